//! End-to-end keys in the browser: the deployment's key mode, this account's ECDH key
//! pair (made here; the private key held by WebCrypto, non-extractable, in IndexedDB),
//! its passphrase-wrapped backup on the relay and its restore on another device, and
//! the keyrings that open records with it.

use std::cell::RefCell;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use leptos::prelude::*;
use phiveil_core::esdk::{
    ecdh_senders, AgreedSecret, Curve, EcPrivateKey, EcPublicKey, EncryptedDataKey, KeyAgreement,
    RawEcdhKeyring,
};
use phiveil_core::passphrase::{KdfParams, MIN_PASSPHRASE_CHARS};
use serde_json::{json, Value};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use zeroize::Zeroizing;

use crate::net::{self, AppError};
use crate::ui::{act, ErrorBox};

#[wasm_bindgen(module = "/src/keystore.js")]
extern "C" {
    #[wasm_bindgen(js_name = keystoreLoad)]
    fn keystore_load(account: &str) -> js_sys::Promise;
    #[wasm_bindgen(js_name = keystoreStore)]
    fn keystore_store(account: &str, pkcs8: &js_sys::Uint8Array, spki: &[u8]) -> js_sys::Promise;
    #[wasm_bindgen(js_name = keystoreDerive)]
    fn keystore_derive(account: &str, senders: &js_sys::Array) -> js_sys::Promise;
}

/// How the deployment keeps records.
#[derive(Debug, Clone, PartialEq)]
pub enum Mode {
    /// Data keys made here and wrapped for public keys; the relay brokers none.
    EndToEnd {
        /// The institution's escrow key, when the deployment keeps one.
        escrow: Option<EcPublicKey>,
    },
    /// The relay's KMS makes and unwraps data keys.
    Brokered,
}

/// This account's key pair as this device holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct MyKey {
    /// The account (user id) it belongs to.
    pub account: String,
    /// The public key (published on the relay).
    pub public: EcPublicKey,
    /// Its fingerprint, to compare out of band.
    pub fingerprint: String,
    /// Whether IndexedDB keeps it (false: this tab only).
    pub persisted: bool,
}

/// Where this account's key stands on this device.
#[derive(Debug, Clone, PartialEq)]
pub enum KeyState {
    /// Not looked up yet.
    Unknown,
    /// No key published: set one up.
    None,
    /// Published, with a backup, but not on this device: restore it.
    Restore,
    /// Held here.
    Ready(MyKey),
}

thread_local! {
    static MODE: RefCell<Option<Mode>> = const { RefCell::new(None) };
    static KEY: ArcRwSignal<KeyState> = ArcRwSignal::new(KeyState::Unknown);
}

/// This account's key state (a signal shared by the views).
pub fn key_state() -> ArcRwSignal<KeyState> {
    KEY.with(Clone::clone)
}

fn js_err(e: JsValue) -> AppError {
    AppError::local(
        "keystore",
        e.as_string()
            .or_else(|| {
                js_sys::Reflect::get(&e, &"message".into())
                    .ok()
                    .and_then(|m| m.as_string())
            })
            .unwrap_or_else(|| "WebCrypto failed".into()),
    )
}

fn spki(key: &EcPublicKey) -> Result<Vec<u8>, AppError> {
    Ok(key.to_spki_der()?)
}

/// The deployment's key mode (asked once per session).
pub async fn mode() -> Result<Mode, AppError> {
    if let Some(m) = MODE.with(|m| m.borrow().clone()) {
        return Ok(m);
    }
    let v = net::api("GET", "/v1/keys/mode", None).await?;
    let m = match v["mode"].as_str() {
        Some("end-to-end") => Mode::EndToEnd {
            escrow: match v["escrow"]["public_key"].as_str() {
                Some(k) => Some(public_key(k)?),
                None => None,
            },
        },
        _ => Mode::Brokered,
    };
    MODE.with(|c| *c.borrow_mut() = Some(m.clone()));
    Ok(m)
}

/// A public key from base64 SubjectPublicKeyInfo.
pub fn public_key(b64: &str) -> Result<EcPublicKey, AppError> {
    let der = B64
        .decode(b64)
        .map_err(|_| AppError::local("bad-answer", "a public key is not base64"))?;
    Ok(EcPublicKey::from_spki_der(&der)?)
}

/// The signed-in account's user id.
pub fn account() -> Result<String, AppError> {
    net::session()
        .get_untracked()
        .map(|s| s.user_id)
        .ok_or_else(|| AppError::local("signed-out", "sign in first"))
}

/// Looks up where this account's key stands (this device, the relay) and sets
/// [`key_state`].
pub async fn refresh() -> Result<KeyState, AppError> {
    let me = account()?;
    let held = JsFuture::from(keystore_load(&me)).await.map_err(js_err)?;
    let published = match net::api("GET", &format!("/v1/keys/public/{me}"), None).await {
        Ok(v) => Some(v),
        Err(e) if e.status == Some(404) => None,
        Err(e) => return Err(e),
    };
    let state = match (held.dyn_into::<js_sys::Uint8Array>().ok(), published) {
        (Some(bytes), Some(p)) => {
            let mine = EcPublicKey::from_spki_der(&bytes.to_vec())?;
            if public_key(p["public_key"].as_str().unwrap_or_default())? == mine {
                KeyState::Ready(MyKey {
                    account: me.clone(),
                    fingerprint: mine.fingerprint()?,
                    public: mine,
                    persisted: true,
                })
            } else {
                // The relay shows another key than the one held here (replaced from
                // another device): restore that one.
                KeyState::Restore
            }
        }
        (_, Some(_)) => KeyState::Restore,
        (_, None) => KeyState::None,
    };
    key_state().set(state.clone());
    Ok(state)
}

/// This account's key, held on this device; an error says what to do otherwise.
pub fn mine() -> Result<MyKey, AppError> {
    let me = account()?;
    match key_state().get_untracked() {
        KeyState::Ready(k) if k.account == me => Ok(k),
        KeyState::Restore => Err(AppError::local(
            "NoKeyHere",
            "restore your end-to-end key on this device first (Your key, above)",
        )),
        _ => Err(AppError::local(
            "NoKey",
            "set up your end-to-end key first (Your key, above)",
        )),
    }
}

async fn hold(me: &str, key: &EcPrivateKey) -> Result<MyKey, AppError> {
    let public = key.public_key();
    let pkcs8 = key.to_pkcs8_der()?;
    let bytes = js_sys::Uint8Array::from(pkcs8.as_slice());
    let persisted = JsFuture::from(keystore_store(me, &bytes, &spki(&public)?))
        .await
        .map_err(js_err)?
        .as_bool()
        .unwrap_or(false);
    Ok(MyKey {
        account: me.to_owned(),
        fingerprint: public.fingerprint()?,
        public,
        persisted,
    })
}

/// Makes this account's key pair here, stores its backup (wrapped under `passphrase`
/// with Argon2id, here) and public key on the relay, and keeps the private key in
/// WebCrypto.
pub async fn set_up(passphrase: &str) -> Result<MyKey, AppError> {
    let me = account()?;
    if passphrase.chars().count() < MIN_PASSPHRASE_CHARS {
        return Err(AppError::local(
            "WeakPassphrase",
            format!("use a passphrase of at least {MIN_PASSPHRASE_CHARS} characters"),
        ));
    }
    let key = EcPrivateKey::generate(Curve::P256, &mut rand_core::OsRng);
    let wrapped =
        key.wrap_with_passphrase(&me, passphrase, KdfParams::DEFAULT, &mut rand_core::OsRng)?;
    // Kept on this device first, so no later failure loses it; then the public key:
    // if another device published one meanwhile, the relay answers 409 and that
    // device's backup stays as it is; then the backup.
    let mine = hold(&me, &key).await?;
    net::api(
        "PUT",
        "/v1/keys/public",
        Some(json!({ "public_key": B64.encode(spki(&key.public_key())?) })),
    )
    .await?;
    net::api(
        "PUT",
        "/v1/keys/backup",
        Some(json!({ "backup": B64.encode(&wrapped) })),
    )
    .await?;
    key_state().set(KeyState::Ready(mine.clone()));
    Ok(mine)
}

/// Restores this account's key on this device from the relay's backup.
pub async fn restore(passphrase: &str) -> Result<MyKey, AppError> {
    let me = account()?;
    let backup = net::api("GET", "/v1/keys/backup", None).await?;
    let wrapped = B64
        .decode(backup["backup"].as_str().unwrap_or_default())
        .map_err(|_| AppError::local("bad-answer", "the backup is not base64"))?;
    let key = EcPrivateKey::unwrap_with_passphrase(&wrapped, &me, passphrase).map_err(|_| {
        AppError::local(
            "WrongPassphrase",
            "the passphrase does not open this account's key backup",
        )
    })?;
    let published = net::api("GET", &format!("/v1/keys/public/{me}"), None).await?;
    if public_key(published["public_key"].as_str().unwrap_or_default())? != key.public_key() {
        return Err(AppError::local(
            "KeyMismatch",
            "the backup's key is not the key the relay publishes for this account",
        ));
    }
    let mine = hold(&me, &key).await?;
    key_state().set(KeyState::Ready(mine.clone()));
    Ok(mine)
}

/// A keyring that opens `message` (and `shares`) with this device's key: the shared
/// secrets come from WebCrypto's `deriveBits`, so the private key never leaves it.
pub async fn reader(
    message: &[u8],
    shares: Vec<EncryptedDataKey>,
) -> Result<RawEcdhKeyring, AppError> {
    let me = account()?;
    let mine = mine()?;
    let senders = ecdh_senders(message, &shares, &mine.public)?;
    if senders.is_empty() {
        return Err(AppError::local(
            "NoMatchingKey",
            "this record holds no key wrapped for your key",
        ));
    }
    let list = js_sys::Array::new();
    for s in &senders {
        list.push(&js_sys::Uint8Array::from(spki(s)?.as_slice()));
    }
    let secrets = JsFuture::from(keystore_derive(&me, &list))
        .await
        .map_err(js_err)?;
    let secrets: js_sys::Array = secrets.dyn_into().map_err(js_err)?;
    let mut agreed = Vec::with_capacity(senders.len());
    for (sender, secret) in senders.into_iter().zip(secrets.iter()) {
        let bytes: js_sys::Uint8Array = secret.dyn_into().map_err(js_err)?;
        let shared_secret = Zeroizing::new(bytes.to_vec());
        bytes.fill(0, 0, bytes.length());
        agreed.push(AgreedSecret {
            sender,
            shared_secret,
        });
    }
    Ok(RawEcdhKeyring::new(KeyAgreement::Agreed {
        recipient: mine.public,
        secrets: agreed,
    })?
    .with_shares(shares))
}

/// A published key of another account (a clinician's), by user id or pseudonym: the
/// key and its fingerprint (computed here, not taken from the relay). `Ok(None)` when
/// none is published (or visible).
pub async fn published(id: &str) -> Result<Option<(EcPublicKey, String)>, AppError> {
    match net::api("GET", &format!("/v1/keys/public/{id}"), None).await {
        Ok(v) => {
            let key = public_key(v["public_key"].as_str().unwrap_or_default())?;
            let fingerprint = key.fingerprint()?;
            Ok(Some((key, fingerprint)))
        }
        Err(e) if e.status == Some(404) => Ok(None),
        Err(e) => Err(e),
    }
}

fn pins_key() -> Result<String, AppError> {
    Ok(format!("phiveil.key-pins.{}", account()?))
}

fn load_pins() -> Result<serde_json::Map<String, Value>, AppError> {
    Ok(net::local_get(&pins_key()?)
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default())
}

/// Remembers, in this browser, the fingerprint of the key `clinician` had when this
/// account granted them (the user saw it then).
pub fn pin(clinician: &str, fingerprint: &str) -> Result<(), AppError> {
    let mut pins = load_pins()?;
    pins.insert(clinician.to_owned(), Value::from(fingerprint));
    net::local_set(&pins_key()?, &Value::Object(pins).to_string());
    Ok(())
}

/// The fingerprint this browser saw for `clinician`'s key at the grant, when it differs
/// from `fingerprint` (a key the relay swapped afterwards would read what is written
/// for it).
pub fn pin_differs(clinician: &str, fingerprint: &str) -> Result<Option<String>, AppError> {
    Ok(load_pins()?
        .get(clinician)
        .and_then(Value::as_str)
        .filter(|seen| *seen != fingerprint)
        .map(str::to_owned))
}

/// The error for a clinician key that changed since the grant.
pub fn key_changed(name: &str, seen: &str, now: &str) -> AppError {
    AppError::local(
        "KeyChanged",
        format!(
            "{name}'s key changed since you granted them (fingerprint was {seen}, is now {now}); nothing was written. Compare the new fingerprint with {name}, then revoke and grant again to accept it."
        ),
    )
}

/// An encrypted data key from its JSON form (binary fields base64).
pub fn edk_from_json(v: &Value) -> Result<EncryptedDataKey, AppError> {
    let b = |k: &str| {
        v[k].as_str()
            .and_then(|s| B64.decode(s).ok())
            .ok_or_else(|| AppError::local("bad-answer", format!("{k} is not base64")))
    };
    Ok(EncryptedDataKey {
        provider_id: v["provider_id"].as_str().unwrap_or_default().to_owned(),
        provider_info: b("provider_info")?,
        ciphertext: b("ciphertext")?,
    })
}

/// The JSON form of an encrypted data key.
pub fn edk_to_json(e: &EncryptedDataKey) -> Value {
    json!({
        "provider_id": e.provider_id,
        "provider_info": B64.encode(&e.provider_info),
        "ciphertext": B64.encode(&e.ciphertext),
    })
}

/// "Your key": the deployment's mode, and this account's key set up, restored or shown
/// with its fingerprint. Renders nothing in brokered mode.
#[component]
pub fn KeyCard() -> impl IntoView {
    let mode_sig = RwSignal::new(None::<Mode>);
    let state = key_state();
    let err = RwSignal::new(None::<AppError>);
    let busy = RwSignal::new(false);
    let pass = RwSignal::new(String::new());
    let pass2 = RwSignal::new(String::new());
    act(busy, err, async move {
        let m = mode().await?;
        mode_sig.set(Some(m.clone()));
        if matches!(m, Mode::EndToEnd { .. }) {
            refresh().await?;
        }
        Ok(())
    });
    let set_up_now = move || {
        let (p, p2) = (pass.get_untracked(), pass2.get_untracked());
        act(busy, err, async move {
            if p != p2 {
                return Err(AppError::local("Mismatch", "the two passphrases differ"));
            }
            set_up(&p).await?;
            pass.set(String::new());
            pass2.set(String::new());
            Ok(())
        });
    };
    let restore_now = move || {
        let p = pass.get_untracked();
        act(busy, err, async move {
            restore(&p).await?;
            pass.set(String::new());
            Ok(())
        });
    };
    view! {
        {move || match mode_sig.get() {
            Some(Mode::EndToEnd { escrow }) => {
                let state = state.clone();
                view! {
                    <section class="card" aria-labelledby="key-h" data-testid="key-card">
                        <h2 id="key-h">"Your key"</h2>
                        <p data-testid="key-mode">
                            "End-to-end: records are encrypted in this browser for your key and for the clinicians you grant. The relay stores them but cannot open them."
                            {escrow.map(|_| " This deployment also keeps an institutional escrow copy of each record's key, which its operators can use only through an audited recovery.")}
                        </p>
                        {move || match state.get() {
                            KeyState::Ready(k) => view! {
                                <p>
                                    "Your key's fingerprint: "
                                    <code data-testid="fingerprint">{k.fingerprint.clone()}</code>
                                </p>
                                <p class="hint">
                                    "Compare it with what the people you share with see for you; a different fingerprint means the key is not yours."
                                    {(!k.persisted).then_some(" This browser cannot keep the key: it stays in this tab only; restore it from the backup next time.")}
                                </p>
                            }.into_any(),
                            KeyState::None => view! {
                                <form class="stack" on:submit=move |ev| { ev.prevent_default(); set_up_now(); }>
                                    <p>"Set up your key. It is made in this browser; a copy locked with your passphrase is kept on the relay so you can use another device."</p>
                                    <p class="warn" data-testid="key-warning">
                                        "If you lose this passphrase and every device holding your key, your records can no longer be opened by anyone — not by you, not by the relay's operator."
                                    </p>
                                    <label for="key-pass">"Passphrase"</label>
                                    <input id="key-pass" type="password" autocomplete="new-password"
                                        prop:value=move || pass.get()
                                        on:input=move |ev| pass.set(event_target_value(&ev)) />
                                    <label for="key-pass2">"Passphrase again"</label>
                                    <input id="key-pass2" type="password" autocomplete="new-password"
                                        prop:value=move || pass2.get()
                                        on:input=move |ev| pass2.set(event_target_value(&ev)) />
                                    <button type="submit" disabled=move || busy.get()>"Set up my key"</button>
                                </form>
                            }.into_any(),
                            KeyState::Restore => view! {
                                <form class="stack" on:submit=move |ev| { ev.prevent_default(); restore_now(); }>
                                    <p>"Your key is not on this device. Restore it from its backup with your passphrase."</p>
                                    <label for="key-restore">"Passphrase"</label>
                                    <input id="key-restore" type="password" autocomplete="current-password"
                                        prop:value=move || pass.get()
                                        on:input=move |ev| pass.set(event_target_value(&ev)) />
                                    <button type="submit" disabled=move || busy.get()>"Restore my key"</button>
                                </form>
                            }.into_any(),
                            KeyState::Unknown => view! { <p class="hint">"Looking up your key…"</p> }.into_any(),
                        }}
                        <ErrorBox err=err />
                    </section>
                }
                .into_any()
            }
            Some(Mode::Brokered) => view! {
                <p class="hint" data-testid="key-mode">
                    "Brokered keys: records are encrypted in this browser with data keys from the relay's key service, so whoever runs the relay and its key service can open them."
                </p>
            }
            .into_any(),
            None => view! { <ErrorBox err=err /> }.into_any(),
        }}
    }
}
