//! The relay's configuration file: every command-line setting, in TOML.
//!
//! `phiveil-relay --config relay.toml serve` (or `PHIVEIL_CONFIG`) reads the file's
//! top-level keys as the global settings (`data_dir`, `database_url`) and its `[serve]`
//! table as `serve`'s. A key is a flag's long name with `_` or `-` (`max_upload_bytes`,
//! `key-mode`). What decides a setting, strongest first: the command line, the flag's
//! environment variable, the file, the built-in default. An unknown key, a table where a
//! value belongs or an unreadable file stops the start with the file and key named.
//! `deploy/phiveil-relay.toml` lists every setting with its default.

use std::ffi::OsString;
use std::path::Path;

/// The file's settings as arguments: `args` (the command line, program name first) with
/// each setting the file gives, and neither the command line nor the environment does,
/// inserted where the command line would carry it. `cmd` is the command line's grammar.
/// `args` unchanged when no file is named.
pub fn expand(args: Vec<OsString>, cmd: &clap::Command) -> Result<Vec<OsString>, String> {
    let Some(path) = config_path(&args) else {
        return Ok(args);
    };
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("{}: {e}", Path::new(&path).display()))?;
    expand_with(args, cmd, &text, &path.to_string_lossy())
}

/// [`expand`] with the file's text given (`name` names it in errors).
pub fn expand_with(
    mut args: Vec<OsString>,
    cmd: &clap::Command,
    text: &str,
    name: &str,
) -> Result<Vec<OsString>, String> {
    let table: toml::Table = text.parse().map_err(|e| format!("{name}: {e}"))?;
    let mut global = Vec::new();
    let mut sub: Vec<(String, Vec<OsString>)> = Vec::new();
    for (key, value) in &table {
        match value {
            toml::Value::Table(t) => {
                let sc = cmd
                    .find_subcommand(key)
                    .ok_or_else(|| format!("{name}: unknown section [{key}]"))?;
                let mut out = Vec::new();
                for (k, v) in t {
                    setting(sc, k, v, &mut out).map_err(|e| format!("{name}: [{key}] {e}"))?;
                }
                sub.push((key.clone(), out));
            }
            v => setting(cmd, key, v, &mut global).map_err(|e| format!("{name}: {e}"))?,
        }
    }
    // Each subcommand's settings go right after its name, the global ones right after
    // the program name: the command line's own arguments come later and win.
    for (name, out) in sub {
        if let Some(at) = args.iter().position(|a| a == name.as_str()) {
            let tail = args.split_off(at.saturating_add(1));
            args.extend(out);
            args.extend(tail);
        }
    }
    let tail = args.split_off(1.min(args.len()));
    args.extend(global);
    args.extend(tail);
    Ok(args)
}

/// The file the command line (`--config F`, `--config=F`) or `PHIVEIL_CONFIG` names.
fn config_path(args: &[OsString]) -> Option<OsString> {
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--config" {
            return it.next().cloned();
        }
        if let Some(v) = a.to_str().and_then(|s| s.strip_prefix("--config=")) {
            return Some(v.into());
        }
    }
    std::env::var_os("PHIVEIL_CONFIG").filter(|v| !v.is_empty())
}

/// One setting `key = value` of `cmd` as arguments appended to `out`.
fn setting(
    cmd: &clap::Command,
    key: &str,
    value: &toml::Value,
    out: &mut Vec<OsString>,
) -> Result<(), String> {
    let long = key.replace('_', "-");
    let arg = cmd
        .get_arguments()
        .find(|a| a.get_long() == Some(long.as_str()) && long != "config")
        .ok_or_else(|| format!("unknown setting {key:?}"))?;
    // The flag's environment variable beats the file.
    if arg
        .get_env()
        .is_some_and(|e| std::env::var_os(e).is_some_and(|v| !v.is_empty()))
    {
        return Ok(());
    }
    let flag = matches!(
        arg.get_action(),
        clap::ArgAction::SetTrue | clap::ArgAction::SetFalse
    );
    match value {
        toml::Value::Boolean(b) if flag => {
            if *b {
                out.push(format!("--{long}").into());
            }
        }
        toml::Value::String(s) if !flag => out.push(format!("--{long}={s}").into()),
        toml::Value::Integer(i) if !flag => out.push(format!("--{long}={i}").into()),
        toml::Value::Float(f) if !flag => out.push(format!("--{long}={f}").into()),
        _ if flag => return Err(format!("{key} is true or false")),
        _ => return Err(format!("{key} takes a string or a number")),
    }
    Ok(())
}
