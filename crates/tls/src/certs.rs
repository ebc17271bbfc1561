//! A local certificate authority and one certificate per role, for `tiercache certs`, `up
//! --secure` and tests.
//!
//! The directory holds `ca.pem` and `ca.key` (the CA), and `ROLE.pem` / `ROLE.key` per
//! role. Every role certificate is valid for `localhost`, `127.0.0.1`, `::1` and the extra
//! hosts asked for, both as a server and as a client (roles call each other), for
//! [`CertOptions::days`]. Keys are written readable by their owner only. Running it again
//! keeps what exists (the CA signs the roles that are missing), so a deployment's
//! certificates survive a restart; `force` writes fresh role certificates with the same CA.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use time::{Duration, OffsetDateTime};

use crate::error::TlsError;
use crate::identity::TlsFiles;

/// The roles `tiercache certs` writes a certificate for unless told otherwise: the four
/// services, and `client` for people and tools (bench, lab, tests) that call them.
pub const ROLES: [&str; 5] = ["store", "api", "admin", "lognode", "client"];

/// What to generate.
#[derive(Debug, Clone)]
pub struct CertOptions {
    /// Roles to write a certificate for ([`ROLES`] by default).
    pub roles: Vec<String>,
    /// Names and addresses the certificates are valid for, besides `localhost`,
    /// `127.0.0.1` and `::1`.
    pub hosts: Vec<String>,
    /// How long role certificates are valid, from now (the CA: ten times as long).
    pub days: u32,
    /// Replace role certificates that exist (the CA is always kept).
    pub force: bool,
}

impl Default for CertOptions {
    fn default() -> CertOptions {
        CertOptions {
            roles: ROLES.iter().map(|role| (*role).to_owned()).collect(),
            hosts: Vec::new(),
            days: 365,
            force: false,
        }
    }
}

/// What [`generate`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Generated {
    /// Files written.
    pub written: Vec<PathBuf>,
    /// Files that existed and were kept.
    pub kept: Vec<PathBuf>,
}

/// The files of `role` in `dir`: the CA, its certificate, its key.
pub fn role_files(dir: &Path, role: &str) -> TlsFiles {
    TlsFiles {
        ca: dir.join("ca.pem"),
        cert: Some(dir.join(format!("{role}.pem"))),
        key: Some(dir.join(format!("{role}.key"))),
    }
}

/// Writes a CA (unless `dir` has one) and a certificate per role of `options` into `dir`,
/// creating it.
pub fn generate(dir: &Path, options: &CertOptions) -> Result<Generated, TlsError> {
    for role in &options.roles {
        let valid = !role.is_empty()
            && role
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !valid || role == "ca" {
            return Err(TlsError::Mismatch(format!(
                "{role:?} is not a role name (letters, digits, '-' and '_'; not \"ca\")"
            )));
        }
    }
    std::fs::create_dir_all(dir).map_err(|source| TlsError::io("creating", dir, source))?;
    let mut generated = Generated::default();
    let ca_cert = dir.join("ca.pem");
    let ca_key = dir.join("ca.key");
    let ca_key_pair = match (ca_cert.exists(), ca_key.exists()) {
        (true, true) => {
            let pem = std::fs::read_to_string(&ca_key)
                .map_err(|source| TlsError::io("reading", &ca_key, source))?;
            generated.kept.extend([ca_cert.clone(), ca_key.clone()]);
            KeyPair::from_pem(&pem)
                .map_err(|error| TlsError::bad_file(&ca_key, format!("not a CA key: {error}")))?
        }
        (false, false) => {
            let key_pair = KeyPair::generate()?;
            let certificate = ca_params(&key_pair, options.days)?.self_signed(&key_pair)?;
            write(&ca_key, &key_pair.serialize_pem(), true, &mut generated)?;
            write(&ca_cert, &certificate.pem(), false, &mut generated)?;
            key_pair
        }
        _ => {
            return Err(TlsError::Mismatch(format!(
                "{} holds only half of a CA (ca.pem and ca.key go together): \
                 remove the other or restore it",
                dir.display()
            )));
        }
    };
    // The issuer's name is rebuilt from the same parameters, so certificates signed by a CA
    // read back from disk chain to its certificate.
    let issuer = Issuer::new(ca_params(&ca_key_pair, options.days)?, ca_key_pair);
    for role in &options.roles {
        let files = role_files(dir, role);
        let (cert, key) = (files.cert.unwrap(), files.key.unwrap());
        if cert.exists() && key.exists() && !options.force {
            generated.kept.extend([cert, key]);
            continue;
        }
        let key_pair = KeyPair::generate()?;
        let certificate =
            role_params(role, &options.hosts, options.days)?.signed_by(&key_pair, &issuer)?;
        write(&key, &key_pair.serialize_pem(), true, &mut generated)?;
        write(&cert, &certificate.pem(), false, &mut generated)?;
    }
    Ok(generated)
}

/// The CA's parameters. Its name carries a fingerprint of its key, so two deployments' CAs
/// differ by name (a certificate of the other one fails as "unknown issuer", not as a bad
/// signature) while the name is still rebuilt identically from the key on every run.
fn ca_params(key: &KeyPair, days: u32) -> Result<CertificateParams, TlsError> {
    use rcgen::PublicKeyData;
    let fingerprint = key
        .subject_public_key_info()
        .iter()
        .fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
            (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
        });
    let mut params = CertificateParams::new(Vec::new())?;
    params.distinguished_name = name(&format!("tiercache local CA {fingerprint:016x}"));
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    set_validity(&mut params, days.saturating_mul(10));
    Ok(params)
}

fn role_params(role: &str, hosts: &[String], days: u32) -> Result<CertificateParams, TlsError> {
    let mut names = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    names.extend(hosts.iter().cloned());
    names.dedup();
    let mut params = CertificateParams::new(names)?;
    params.distinguished_name = name(&format!("tiercache {role}"));
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    params.use_authority_key_identifier_extension = true;
    set_validity(&mut params, days);
    Ok(params)
}

fn name(common_name: &str) -> DistinguishedName {
    let mut name = DistinguishedName::new();
    name.push(DnType::OrganizationName, "tiercache");
    name.push(DnType::CommonName, common_name);
    name
}

fn set_validity(params: &mut CertificateParams, days: u32) {
    let now = OffsetDateTime::now_utc();
    // A day of slack before now: a peer whose clock is a little behind still accepts it.
    params.not_before = now - Duration::days(1);
    params.not_after = now + Duration::days(i64::from(days));
}

fn write(
    path: &Path,
    contents: &str,
    private: bool,
    generated: &mut Generated,
) -> Result<(), TlsError> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .map_err(|source| TlsError::io("writing", path, source))?;
    file.write_all(contents.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|source| TlsError::io("writing", path, source))?;
    generated.written.push(path.to_owned());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Identity;

    #[test]
    fn every_role_gets_a_loadable_identity_and_private_keys() {
        let dir = tempfile::tempdir().unwrap();
        let generated = generate(dir.path(), &CertOptions::default()).unwrap();
        assert_eq!(generated.written.len(), 2 + 2 * ROLES.len());
        for role in ROLES {
            let identity = Identity::load(&role_files(dir.path(), role)).unwrap();
            assert!(identity.has_certificate(), "{role}");
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let key = dir.path().join(format!("{role}.key"));
                let mode = std::fs::metadata(key).unwrap().permissions().mode();
                assert_eq!(mode & 0o077, 0, "{role}.key is readable by others");
            }
        }
    }

    #[test]
    fn a_second_run_keeps_the_ca_and_signs_only_missing_roles() {
        let dir = tempfile::tempdir().unwrap();
        generate(dir.path(), &CertOptions::default()).unwrap();
        let ca = std::fs::read(dir.path().join("ca.pem")).unwrap();
        let store = std::fs::read(dir.path().join("store.pem")).unwrap();
        let more = CertOptions {
            roles: vec!["store".into(), "bench-2".into()],
            ..CertOptions::default()
        };
        let generated = generate(dir.path(), &more).unwrap();
        assert_eq!(
            generated.written,
            [
                dir.path().join("bench-2.key"),
                dir.path().join("bench-2.pem")
            ]
        );
        assert_eq!(std::fs::read(dir.path().join("ca.pem")).unwrap(), ca);
        assert_eq!(std::fs::read(dir.path().join("store.pem")).unwrap(), store);
    }

    #[test]
    fn half_a_ca_and_bad_role_names_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        generate(dir.path(), &CertOptions::default()).unwrap();
        std::fs::remove_file(dir.path().join("ca.key")).unwrap();
        let error = generate(dir.path(), &CertOptions::default()).unwrap_err();
        assert!(error.to_string().contains("half of a CA"), "{error}");
        for bad in ["", "ca", "../x", "a b"] {
            let options = CertOptions {
                roles: vec![bad.into()],
                ..CertOptions::default()
            };
            assert!(generate(dir.path(), &options).is_err(), "{bad:?}");
        }
    }
}
