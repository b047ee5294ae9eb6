//! How secrets look when settings are printed (`tollgate check-config`): present or not, never
//! their value. A URL keeps everything but its password.

use secrecy::SecretString;
use serde::Serializer;

const MASK: &str = "********";

pub fn optional<S: Serializer>(secret: &Option<SecretString>, out: S) -> Result<S::Ok, S::Error> {
    match secret {
        Some(_) => out.serialize_some(MASK),
        None => out.serialize_none(),
    }
}

pub fn list<S: Serializer>(secrets: &[SecretString], out: S) -> Result<S::Ok, S::Error> {
    out.collect_seq(secrets.iter().map(|_| MASK))
}

pub fn url<S: Serializer>(url: &str, out: S) -> Result<S::Ok, S::Error> {
    out.serialize_str(&without_password(url))
}

pub fn optional_url<S: Serializer>(url: &Option<String>, out: S) -> Result<S::Ok, S::Error> {
    match url {
        Some(url) => out.serialize_some(&without_password(url)),
        None => out.serialize_none(),
    }
}

/// `scheme://user:password@host/…` as `scheme://user:********@host/…`.
fn without_password(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_owned();
    };
    let authority_end = url[scheme_end..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| scheme_end + i);
    let authority = &url[scheme_end..authority_end];
    let Some(at) = authority.rfind('@') else {
        return url.to_owned();
    };
    match authority[..at].split_once(':') {
        Some((user, _)) => format!(
            "{}{user}:{MASK}{}",
            &url[..scheme_end],
            &url[scheme_end + at..]
        ),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::without_password;

    #[test]
    fn urls_lose_only_their_password() {
        assert_eq!(
            without_password("postgres://app:s3cret@db:5432/tollgate?sslmode=require"),
            "postgres://app:********@db:5432/tollgate?sslmode=require"
        );
        assert_eq!(
            without_password("redis://:pw@127.0.0.1:6379/"),
            "redis://:********@127.0.0.1:6379/"
        );
        assert_eq!(
            without_password("sqlite://tollgate.db"),
            "sqlite://tollgate.db"
        );
        assert_eq!(
            without_password("postgres://app@db/tollgate"),
            "postgres://app@db/tollgate"
        );
    }
}
