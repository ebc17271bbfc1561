//! Application names: what names a log (a bus topic `log/{app}`, a directory on the log
//! nodes, a key of the admin's state), checked once for every role.

/// The longest application name, in bytes (the admin keeps `app/{APP}` in store keys of at
/// most 128 bytes).
pub const MAX_APP_BYTES: usize = 124;

/// Checks an application name: 1..=[`MAX_APP_BYTES`] bytes of ASCII letters, digits, `.`,
/// `_` and `-`, and neither `.` nor `..`.
pub fn check_app(app: &str) -> Result<(), String> {
    if app.is_empty() || app.len() > MAX_APP_BYTES {
        return Err(format!(
            "an application name is 1 to {MAX_APP_BYTES} bytes, got {}",
            app.len()
        ));
    }
    if app == "." || app == ".." {
        // It names a directory on the log nodes: never one that leaves their data directory.
        return Err(format!("an application cannot be named {app:?}"));
    }
    match app
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        Some(c) => Err(format!(
            "an application name holds only letters, digits, '.', '_' and '-', not {c:?}"
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn application_names_are_checked() {
        for good in ["a", "shop-1", "A.b_c", &"x".repeat(MAX_APP_BYTES)] {
            assert_eq!(check_app(good), Ok(()), "{good}");
        }
        for bad in [
            "",
            ".",
            "..",
            "a/b",
            "a b",
            "é",
            &"x".repeat(MAX_APP_BYTES + 1),
            "a\n",
        ] {
            assert!(check_app(bad).is_err(), "{bad:?}");
        }
    }
}
