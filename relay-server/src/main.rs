//! `phiveil-relay`: the relay service and its operator CLI.
#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use phiveil_relay::{accounts, audit, kms::EmbeddedKms, AppState, Config};

/// phiveil relay: key broker, upload broker and audit log.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// A TOML file of settings: top-level keys for these global options, a `[serve]`
    /// table for serve's (deploy/phiveil-relay.toml lists them all). The command line
    /// and each setting's environment variable take precedence over the file.
    #[arg(long, env = "PHIVEIL_CONFIG", global = true)]
    config: Option<PathBuf>,
    /// Where state lives: database, objects, master keys.
    #[arg(
        long,
        env = "PHIVEIL_DATA_DIR",
        default_value = "phiveil-data",
        global = true
    )]
    data_dir: PathBuf,
    /// PostgreSQL URL for the metadata (several replicas share it); default: SQLite
    /// in the data directory.
    #[arg(
        long,
        env = "PHIVEIL_DATABASE_URL",
        global = true,
        hide_env_values = true
    )]
    database_url: Option<String>,
    #[command(subcommand)]
    command: Command,
}

// Parsed once at start; the size of the `serve` variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Serve the API (embedded defaults: SQLite, local store, embedded KMS).
    Serve {
        /// Address to listen on (loopback by default).
        #[arg(long, env = "PHIVEIL_LISTEN", default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// Static files served at / (the web app).
        #[arg(long, env = "PHIVEIL_STATIC_DIR")]
        static_dir: Option<PathBuf>,
        /// Largest upload in bytes.
        #[arg(long, default_value_t = 64 << 20)]
        max_upload_bytes: u64,
        /// Accept portal-issued JWTs with this `iss`.
        #[arg(long, env = "PHIVEIL_JWT_ISSUER", requires = "jwt_key_file")]
        jwt_issuer: Option<String>,
        /// The portal's verification key: a PEM public key (RS256/ES256/EdDSA) or,
        /// for HS256, a file holding the shared secret.
        #[arg(long, env = "PHIVEIL_JWT_KEY_FILE", requires = "jwt_issuer")]
        jwt_key_file: Option<PathBuf>,
        /// JWT algorithm: RS256, ES256, EdDSA or HS256.
        #[arg(long, env = "PHIVEIL_JWT_ALGORITHM", default_value = "RS256")]
        jwt_algorithm: String,
        /// POST every alert as JSON to this https:// URL (http:// only to a loopback
        /// address).
        #[arg(long, env = "PHIVEIL_ALERT_WEBHOOK")]
        alert_webhook: Option<String>,
        /// PEM file of certificates trusted for the webhook besides the system's roots.
        #[arg(long, env = "PHIVEIL_ALERT_WEBHOOK_CA_FILE")]
        alert_webhook_ca_file: Option<PathBuf>,
        /// File holding the key that signs each webhook POST (HMAC-SHA256 headers).
        #[arg(long, env = "PHIVEIL_ALERT_WEBHOOK_SECRET_FILE")]
        alert_webhook_secret_file: Option<PathBuf>,
        /// Use AWS KMS with this key (ARN, ID or alias) instead of the embedded KMS.
        #[arg(long, env = "PHIVEIL_KMS_KEY_ID")]
        kms_key_id: Option<String>,
        /// Use this S3 bucket instead of the local object store.
        #[arg(long, env = "PHIVEIL_S3_BUCKET")]
        s3_bucket: Option<String>,
        /// Endpoint override for AWS APIs (a local S3/KMS server, say); credentials
        /// and region come from the standard AWS environment.
        #[arg(long, env = "PHIVEIL_AWS_ENDPOINT_URL")]
        aws_endpoint_url: Option<String>,
        /// A file holding the bearer token a metrics scraper presents at /metrics
        /// (operators' tokens are accepted too).
        #[arg(long, env = "PHIVEIL_METRICS_TOKEN_FILE")]
        metrics_token_file: Option<PathBuf>,
        /// Lifetime of session tokens in seconds.
        #[arg(long, env = "PHIVEIL_TOKEN_TTL_SECS", default_value_t = phiveil_relay::auth::TOKEN_TTL_SECS)]
        token_ttl_secs: i64,
        /// Seconds a replica's claim on a study's aggregation lane lasts without renewal
        /// (a dead replica's lane is taken over this long after its last renewal).
        #[arg(long, env = "PHIVEIL_STUDY_LEASE_SECS", default_value_t = phiveil_relay::studies::LEASE_SECS)]
        study_lease_secs: i64,
        /// Submissions a replica claims and folds per batch.
        #[arg(long, env = "PHIVEIL_STUDY_BATCH", default_value_t = phiveil_relay::studies::BATCH)]
        study_batch: usize,
        /// This replica's name in study lanes (a host name, say; a random suffix is added).
        #[arg(long, env = "PHIVEIL_REPLICA_NAME")]
        replica_name: Option<String>,
        /// Who can open records: `end-to-end` (keys made and wrapped in browsers; the
        /// relay brokers no data key) or `brokered` (the relay's KMS makes and unwraps
        /// data keys for authorized callers, as portals built on it expect).
        #[arg(long, env = "PHIVEIL_KEY_MODE", default_value = "end-to-end")]
        key_mode: phiveil_relay::e2e::KeyMode,
        /// End-to-end mode: browsers also wrap each record's data key for the embedded
        /// KMS's escrow key, recoverable by an operator through an audited request.
        #[arg(long, env = "PHIVEIL_ESCROW")]
        escrow: bool,
        #[command(flatten)]
        replica: ReplicaArgs,
        #[command(flatten)]
        limits: LimitArgs,
    },
    /// Object store operations.
    Store {
        #[command(subcommand)]
        command: StoreCommand,
    },
    /// Create a user (the first operator, clinicians, or a patient for testing).
    CreateUser {
        /// Login name.
        #[arg(long)]
        username: String,
        /// operator, clinician or patient.
        #[arg(long, default_value = "operator")]
        role: String,
        /// Password; read from PHIVEIL_PASSWORD when not given.
        #[arg(long, env = "PHIVEIL_PASSWORD", hide_env_values = true)]
        password: String,
    },
    /// Audit log operations.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Rotate the embedded KMS master key (old versions stay for decryption).
    RotateKey,
}

/// Limits and timeouts (defaults in `phiveil_relay::limits::Limits`; the table in
/// docs/api.md).
#[derive(clap::Args)]
struct LimitArgs {
    /// Seconds a connection may take to send a request's headers; also how long an
    /// idle keep-alive connection stays open.
    #[arg(long, default_value_t = 30)]
    header_read_timeout_secs: u64,
    /// Seconds a request may take end to end.
    #[arg(long, default_value_t = 30)]
    request_timeout_secs: u64,
    /// Open connections, all sources together.
    #[arg(long, default_value_t = 1024)]
    max_connections: usize,
    /// Open connections from one IP address.
    #[arg(long, default_value_t = 128)]
    max_connections_per_source: usize,
    /// Pending uploads per patient.
    #[arg(long, default_value_t = 64)]
    max_pending_records_per_patient: i64,
    /// Unused invitations per clinician.
    #[arg(long, default_value_t = 200)]
    max_open_invitations_per_clinician: i64,
    /// Live event streams per user.
    #[arg(long, default_value_t = 4)]
    max_streams_per_user: usize,
    /// Failed logins per account before backoff starts.
    #[arg(long, default_value_t = 5)]
    login_free_failures_per_account: u32,
    /// Failed logins per source address before backoff starts.
    #[arg(long, default_value_t = 20)]
    login_free_failures_per_source: u32,
    /// First backoff delay in seconds (doubling with each further failure).
    #[arg(long, default_value_t = 2)]
    login_backoff_base_secs: u64,
    /// Longest backoff delay in seconds.
    #[arg(long, default_value_t = 900)]
    login_backoff_max_secs: u64,
}

impl LimitArgs {
    fn limits(&self) -> phiveil_relay::limits::Limits {
        use std::time::Duration;
        phiveil_relay::limits::Limits {
            header_read_timeout: Duration::from_secs(self.header_read_timeout_secs.max(1)),
            request_timeout: Duration::from_secs(self.request_timeout_secs.max(1)),
            max_connections: self.max_connections,
            max_connections_per_source: self.max_connections_per_source,
            max_pending_records_per_patient: self.max_pending_records_per_patient,
            max_open_invitations_per_clinician: self.max_open_invitations_per_clinician,
            max_streams_per_user: self.max_streams_per_user,
            login_free_failures_per_account: self.login_free_failures_per_account,
            login_free_failures_per_source: self.login_free_failures_per_source,
            login_backoff_base: Duration::from_secs(self.login_backoff_base_secs),
            login_backoff_max: Duration::from_secs(self.login_backoff_max_secs),
            ..Default::default()
        }
    }
}

#[derive(Subcommand)]
enum StoreCommand {
    /// Compare every complete record's object in the primary and the replica store (by
    /// size); with --repair, copy the good one over a missing or wrong one.
    Verify {
        /// Copy what differs.
        #[arg(long)]
        repair: bool,
        #[command(flatten)]
        replica: ReplicaArgs,
    },
}

/// The replica store (Azure Blob Storage), when configured.
#[derive(clap::Args, Clone)]
struct ReplicaArgs {
    /// Copy every completed record's object to this Azure Blob container
    /// (`https://ACCOUNT.blob.core.windows.net/CONTAINER`, or an emulator's path-style URL).
    #[arg(
        long,
        env = "PHIVEIL_REPLICA_AZURE_URL",
        requires = "replica_azure_account"
    )]
    replica_azure_url: Option<String>,
    /// The storage account's name.
    #[arg(
        long,
        env = "PHIVEIL_REPLICA_AZURE_ACCOUNT",
        requires = "replica_azure_key_file"
    )]
    replica_azure_account: Option<String>,
    /// A file holding the storage account's key (base64).
    #[arg(long, env = "PHIVEIL_REPLICA_AZURE_KEY_FILE")]
    replica_azure_key_file: Option<PathBuf>,
}

impl ReplicaArgs {
    fn settings(&self) -> Result<Option<phiveil_relay::replica::ReplicaSettings>, String> {
        let (Some(url), Some(account), Some(file)) = (
            &self.replica_azure_url,
            &self.replica_azure_account,
            &self.replica_azure_key_file,
        ) else {
            return Ok(None);
        };
        let key = zeroize::Zeroizing::new(
            std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?,
        );
        Ok(Some(phiveil_relay::replica::ReplicaSettings {
            url: url.clone(),
            account: account.clone(),
            key: zeroize::Zeroizing::new(key.trim().to_owned()),
        }))
    }
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Recompute the hash chain; name the first edited, deleted or moved row.
    Verify {
        /// Also check a checkpoint published earlier (`audit checkpoint`'s JSON): the
        /// chain must still hold it, so rows deleted from the end or a rewritten history
        /// show.
        #[arg(long)]
        checkpoint: Option<PathBuf>,
    },
    /// Print the chain's head, signed with the relay's checkpoint key, as JSON to
    /// publish (with the key, to check the signature).
    Checkpoint,
}

fn portal_jwt(
    issuer: String,
    file: &std::path::Path,
    alg: &str,
) -> Result<phiveil_relay::auth::PortalJwt, String> {
    use jsonwebtoken::{Algorithm, DecodingKey};
    let bytes = std::fs::read(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let (algorithm, key) = match alg {
        "HS256" => (Algorithm::HS256, DecodingKey::from_secret(&bytes)),
        "RS256" => (
            Algorithm::RS256,
            DecodingKey::from_rsa_pem(&bytes).map_err(|e| e.to_string())?,
        ),
        "ES256" => (
            Algorithm::ES256,
            DecodingKey::from_ec_pem(&bytes).map_err(|e| e.to_string())?,
        ),
        "EdDSA" => (
            Algorithm::EdDSA,
            DecodingKey::from_ed_pem(&bytes).map_err(|e| e.to_string())?,
        ),
        other => return Err(format!("unsupported JWT algorithm {other}")),
    };
    Ok(phiveil_relay::auth::PortalJwt {
        issuer,
        key,
        algorithm,
    })
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("PHIVEIL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let json = std::env::var("PHIVEIL_LOG_FORMAT").is_ok_and(|v| v == "json");
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    init_tracing();
    let cli = match parse_cli() {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    match run(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// The grammar: later occurrences of a setting override earlier ones, so the command
/// line overrides what the configuration file inserts before it.
fn command() -> clap::Command {
    Cli::command()
        .args_override_self(true)
        .mut_subcommand("serve", |s| s.args_override_self(true))
}

/// The command line with the configuration file's settings ([`config_file::expand`]).
fn parse_cli() -> Result<Cli, clap::Error> {
    let cmd = command();
    let args = phiveil_relay::config_file::expand(std::env::args_os().collect(), &cmd)
        .map_err(|e| cmd.clone().error(clap::error::ErrorKind::InvalidValue, e))?;
    let matches = cmd.try_get_matches_from(args)?;
    Cli::from_arg_matches(&matches)
}

async fn run(cli: Cli) -> Result<std::process::ExitCode, String> {
    let mut config = Config::new(&cli.data_dir);
    config.database_url = cli.database_url.clone();
    match cli.command {
        Command::Serve {
            listen,
            static_dir,
            max_upload_bytes,
            jwt_issuer,
            jwt_key_file,
            jwt_algorithm,
            alert_webhook,
            alert_webhook_ca_file,
            alert_webhook_secret_file,
            kms_key_id,
            s3_bucket,
            aws_endpoint_url,
            metrics_token_file,
            token_ttl_secs,
            study_lease_secs,
            study_batch,
            replica_name,
            key_mode,
            escrow,
            replica,
            limits,
        } => {
            config.replica = replica.settings()?;
            if escrow && key_mode != phiveil_relay::e2e::KeyMode::EndToEnd {
                return Err("--escrow needs --key-mode end-to-end".into());
            }
            if escrow && kms_key_id.is_some() {
                return Err(
                    "--escrow needs the embedded KMS (its escrow key pair); AWS KMS escrow \
                     is not supported"
                        .into(),
                );
            }
            config.key_mode = key_mode;
            config.escrow = escrow;
            config.token_ttl_secs = token_ttl_secs.clamp(1, 24 * 3600);
            config.study_lease_secs = study_lease_secs.clamp(2, 3600);
            config.study_batch = study_batch.clamp(1, 256);
            config.replica_name = replica_name.filter(|n| {
                !n.is_empty()
                    && n.len() <= 64
                    && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            });
            if let Some(url) = &alert_webhook {
                phiveil_relay::webhook::check_webhook_url(url)?;
            }
            config.alert_webhook = alert_webhook;
            if let Some(file) = alert_webhook_ca_file {
                config.alert_webhook_ca_pem =
                    Some(std::fs::read(&file).map_err(|e| format!("{}: {e}", file.display()))?);
            }
            if let Some(file) = alert_webhook_secret_file {
                let secret = zeroize::Zeroizing::new(
                    std::fs::read_to_string(&file)
                        .map_err(|e| format!("{}: {e}", file.display()))?,
                );
                let secret = secret.trim();
                if secret.len() < 16 {
                    return Err("the webhook secret must have at least 16 characters".into());
                }
                config.alert_webhook_secret = Some(phiveil_relay::webhook::WebhookSecret(
                    zeroize::Zeroizing::new(secret.as_bytes().to_vec()),
                ));
            }
            config.limits = limits.limits();
            if let Some(file) = metrics_token_file {
                use sha2::Digest as _;
                let token = zeroize::Zeroizing::new(
                    std::fs::read_to_string(&file)
                        .map_err(|e| format!("{}: {e}", file.display()))?,
                );
                config.metrics_token_sha256 =
                    Some(sha2::Sha256::digest(token.trim().as_bytes()).into());
            }
            let aws = phiveil_relay::kms::AwsSettings {
                endpoint_url: aws_endpoint_url,
                ..Default::default()
            };
            let kms: Option<std::sync::Arc<dyn phiveil_relay::kms::Kms>> = match kms_key_id {
                Some(id) => Some(std::sync::Arc::new(
                    phiveil_relay::kms::AwsKms::new(&aws, &id).await,
                )),
                None => None,
            };
            let s3 = match s3_bucket {
                Some(b) => Some(phiveil_relay::store::S3Store::new(&aws, &b).await),
                None => None,
            };
            config.static_dir = static_dir;
            config.max_upload_bytes = max_upload_bytes;
            if let (Some(issuer), Some(file)) = (jwt_issuer, jwt_key_file) {
                config.portal_jwt = Some(portal_jwt(issuer, &file, &jwt_algorithm)?);
            }
            let state = AppState::open_with(config, kms, s3)
                .await
                .map_err(|e| format!("{e:?}"))?;
            let listener = tokio::net::TcpListener::bind(listen)
                .await
                .map_err(|e| format!("listen on {listen}: {e}"))?;
            let bound = listener.local_addr().map_err(|e| e.to_string())?;
            tracing::info!(listen = %bound, kms = %state.kms.describe(), data_dir = %cli.data_dir.display(), fhe_device = %phiveil_core::fhe::Device::detect(), "phiveil relay listening");
            let shutdown = async {
                let _ = tokio::signal::ctrl_c().await;
            };
            phiveil_relay::serve(listener, state, shutdown)
                .await
                .map_err(|e| e.to_string())?;
            Ok(std::process::ExitCode::SUCCESS)
        }
        Command::CreateUser {
            username,
            role,
            password,
        } => {
            let state = AppState::open(config).await.map_err(|e| format!("{e:?}"))?;
            let user = accounts::create_user_direct(&state, &username, &password, &role)
                .await
                .map_err(|e| format!("{e:?}"))?;
            println!("created {} {} ({})", user.role, user.username, user.id);
            Ok(std::process::ExitCode::SUCCESS)
        }
        Command::Audit {
            command: AuditCommand::Verify { checkpoint },
        } => {
            let state = AppState::open(config).await.map_err(|e| format!("{e:?}"))?;
            let v = audit::verify(&state.db)
                .await
                .map_err(|e| format!("{e:?}"))?;
            if let (None, Some(file)) = (v.first_broken, checkpoint) {
                let text = std::fs::read_to_string(&file)
                    .map_err(|e| format!("{}: {e}", file.display()))?;
                let cp: phiveil_core::audit_proof::Checkpoint = serde_json::from_str(&text)
                    .map_err(|e| format!("{}: not a checkpoint: {e}", file.display()))?;
                if !audit::holds(&state.db, &state.checkpoint_key, &cp)
                    .await
                    .map_err(|e| format!("{e:?}"))?
                {
                    println!(
                        "audit log BROKEN: it no longer holds the checkpoint at row {} (rows deleted or rewritten, or another key)",
                        cp.seq
                    );
                    return Ok(std::process::ExitCode::from(2));
                }
                println!("checkpoint at row {} held", cp.seq);
            }
            match v.first_broken {
                None => {
                    println!("audit log intact: {} rows", v.rows);
                    Ok(std::process::ExitCode::SUCCESS)
                }
                Some(seq) => {
                    println!(
                        "audit log BROKEN at row {seq}: {}",
                        v.reason.unwrap_or_default()
                    );
                    Ok(std::process::ExitCode::from(2))
                }
            }
        }
        Command::Audit {
            command: AuditCommand::Checkpoint,
        } => {
            let state = AppState::open(config).await.map_err(|e| format!("{e:?}"))?;
            let cp = audit::checkpoint(&state.db, &state.checkpoint_key)
                .await
                .map_err(|e| format!("{e:?}"))?
                .ok_or("the audit log is empty")?;
            let spki = state
                .checkpoint_key
                .public_spki()
                .map_err(|e| format!("{e:?}"))?;
            let out = serde_json::json!({
                "seq": cp.seq, "hash": cp.hash, "ts": cp.ts, "signature": cp.signature,
                "key": base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &spki),
                "key_fingerprint": phiveil_core::audit_proof::key_fingerprint(&spki),
            });
            println!("{out}");
            Ok(std::process::ExitCode::SUCCESS)
        }
        Command::Store {
            command: StoreCommand::Verify { repair, replica },
        } => {
            config.replica = replica.settings()?;
            config.replica_worker = false;
            if config.replica.is_none() {
                return Err(
                    "store verify needs the replica settings (--replica-azure-url, …)".into(),
                );
            }
            let state = AppState::open(config).await.map_err(|e| format!("{e:?}"))?;
            let v = phiveil_relay::replica::verify(&state, repair)
                .await
                .map_err(|e| format!("{e:?}"))?;
            println!(
                "{} records: {} in both stores, {} {} to the replica, {} {} to the primary, {} lost in both",
                v.records,
                v.in_both,
                v.repaired_replica,
                if repair { "copied" } else { "to copy" },
                v.repaired_primary,
                if repair { "copied" } else { "to copy" },
                v.lost.len()
            );
            for k in &v.lost {
                println!("lost: {k}");
            }
            let clean = v.lost.is_empty()
                && (repair || (v.repaired_replica == 0 && v.repaired_primary == 0));
            Ok(if clean {
                std::process::ExitCode::SUCCESS
            } else {
                std::process::ExitCode::from(2)
            })
        }
        Command::RotateKey => {
            let kms = EmbeddedKms::open(&cli.data_dir.join("kms-master-keys.json"))
                .map_err(|e| format!("{e:?}"))?;
            let v = kms.rotate().map_err(|e| format!("{e:?}"))?;
            println!("embedded KMS master key rotated to v{v}");
            Ok(std::process::ExitCode::SUCCESS)
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    const EXAMPLE: &str = include_str!("../../deploy/phiveil-relay.toml");

    fn parse(args: &[&str], file: &str) -> Result<Cli, String> {
        let cmd = command();
        let args = phiveil_relay::config_file::expand_with(
            args.iter().map(Into::into).collect(),
            &cmd,
            file,
            "test.toml",
        )?;
        let m = cmd.try_get_matches_from(args).map_err(|e| e.to_string())?;
        Cli::from_arg_matches(&m).map_err(|e| e.to_string())
    }

    fn serve_settings(cli: &Cli) -> (SocketAddr, phiveil_relay::e2e::KeyMode, bool, usize) {
        match &cli.command {
            Command::Serve {
                listen,
                key_mode,
                escrow,
                limits,
                ..
            } => (*listen, *key_mode, *escrow, limits.max_streams_per_user),
            _ => panic!("not serve"),
        }
    }

    /// deploy/phiveil-relay.toml names every setting of `serve` and the global ones,
    /// and with every line uncommented it is accepted and changes nothing.
    #[test]
    fn the_example_file_lists_every_setting_with_its_default() {
        let cmd = command();
        let serve = cmd.find_subcommand("serve").unwrap();
        for arg in cmd.get_arguments().chain(serve.get_arguments()) {
            let Some(long) = arg.get_long() else { continue };
            if ["help", "version", "config"].contains(&long) {
                continue;
            }
            let key = long.replace('-', "_");
            assert!(
                EXAMPLE.contains(&format!("\n# {key} = ")),
                "deploy/phiveil-relay.toml does not list {key}"
            );
        }
        let uncommented: String = EXAMPLE
            .lines()
            .map(|l| match l.strip_prefix("# ") {
                Some(s) if s.contains(" = ") && !s.ends_with("\"\"") => s,
                _ => l,
            })
            .collect::<Vec<_>>()
            .join("\n");
        let with = parse(&["phiveil-relay", "serve"], &uncommented).unwrap();
        let without = parse(&["phiveil-relay", "serve"], "").unwrap();
        assert_eq!(serve_settings(&with), serve_settings(&without));
        assert_eq!(with.data_dir, without.data_dir);
    }

    #[test]
    fn the_command_line_overrides_the_file_and_bad_settings_are_named() {
        let file = "[serve]\nlisten = \"127.0.0.1:9999\"\nkey-mode = \"brokered\"\nmax_streams_per_user = 2\n";
        let cli = parse(
            &["phiveil-relay", "serve", "--listen", "127.0.0.1:7000"],
            file,
        )
        .unwrap();
        let (listen, mode, escrow, streams) = serve_settings(&cli);
        assert_eq!(listen.port(), 7000);
        assert_eq!(mode, phiveil_relay::e2e::KeyMode::Brokered);
        assert!(!escrow);
        assert_eq!(streams, 2);
        let cli = parse(&["phiveil-relay", "serve"], "[serve]\nescrow = true\n").unwrap();
        assert!(serve_settings(&cli).2);
        for (bad, says) in [
            (
                "[serve]\nlisten_on = \"x\"\n",
                "unknown setting \"listen_on\"",
            ),
            ("[srv]\nlisten = \"x\"\n", "unknown section [srv]"),
            ("[serve]\nescrow = \"yes\"\n", "escrow is true or false"),
            (
                "[serve]\nlisten = [1]\n",
                "listen takes a string or a number",
            ),
            ("listen = ", "test.toml"),
            ("[serve]\nkey_mode = \"open\"\n", "end-to-end or brokered"),
        ] {
            let err = parse(&["phiveil-relay", "serve"], bad).err().unwrap();
            assert!(err.contains(says), "{bad:?}: {err}");
        }
    }
}
