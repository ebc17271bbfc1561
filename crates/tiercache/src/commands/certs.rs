//! `tiercache certs`: a local CA and a certificate per role, for TLS between the roles.

use std::path::PathBuf;

use clap::Args;
use tiercache_tls::certs::{self, CertOptions};

/// Flags of `tiercache certs`.
#[derive(Debug, Args)]
#[command(after_help = "\
Writes DIR/ca.pem and DIR/ca.key (the CA), and DIR/ROLE.pem and DIR/ROLE.key per role;
keys are readable by their owner only. A second run keeps what exists and signs only the
missing roles with the same CA (--force renews the role certificates).

Then give each process its role's files, e.g. for the store:
  tiercache store --tls-ca DIR/ca.pem --tls-cert DIR/store.pem --tls-key DIR/store.key
and reach it as https://HOST:PORT (`tiercache up --secure` does all of this).")]
pub struct CertsArgs {
    /// Directory to write into (created when missing)
    #[arg(long, value_name = "DIR")]
    dir: PathBuf,

    /// A role to write a certificate for; repeat for several [default: store, api, admin,
    /// lognode, client]
    #[arg(long = "role", value_name = "NAME")]
    roles: Vec<String>,

    /// A host name or address the certificates are also valid for (besides localhost,
    /// 127.0.0.1 and ::1); repeat for several
    #[arg(long = "host", value_name = "NAME")]
    hosts: Vec<String>,

    /// Days the role certificates stay valid (the CA: ten times as long)
    #[arg(long, default_value_t = 365, value_parser = clap::value_parser!(u32).range(1..=3650))]
    days: u32,

    /// Write fresh role certificates even where they exist (the CA is kept)
    #[arg(long)]
    force: bool,
}

/// Runs `tiercache certs`.
pub fn run(args: CertsArgs) -> anyhow::Result<()> {
    let mut options = CertOptions {
        hosts: args.hosts,
        days: args.days,
        force: args.force,
        ..CertOptions::default()
    };
    if !args.roles.is_empty() {
        options.roles = args.roles;
    }
    let generated = certs::generate(&args.dir, &options)?;
    for path in &generated.written {
        println!("wrote {}", path.display());
    }
    for path in &generated.kept {
        println!("kept  {}", path.display());
    }
    Ok(())
}
