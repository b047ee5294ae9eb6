//! What a database URL names, checked before anything is opened, so that a mistake is reported
//! as what it is: `my.db` is not a URL, `mysql://` is not supported, a SQLite file's directory
//! is missing.

use std::path::{Path, PathBuf};

/// A database URL this adapter can open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// A SQLite file, or `None` for an in-memory database.
    Sqlite(Option<PathBuf>),
    Postgres,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DatabaseUrlError {
    #[error(
        "\"{0}\" is not a database URL: use sqlite://FILE for an embedded database (e.g. sqlite://{0}) or postgres://USER@HOST/DATABASE"
    )]
    NotAUrl(String),
    #[error("{0}:// databases are not supported: use sqlite:// or postgres://")]
    UnsupportedScheme(String),
    #[error(
        "the directory {} of the SQLite file does not exist (SQLite creates the file, not its directory)",
        .0.display()
    )]
    MissingDirectory(PathBuf),
}

impl DatabaseUrl {
    pub fn parse(url: &str) -> Result<Self, DatabaseUrlError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Self::Postgres);
        }
        if let Some(rest) = url.strip_prefix("sqlite:") {
            let rest = rest.strip_prefix("//").unwrap_or(rest);
            let path = rest.split('?').next().unwrap_or_default();
            if path.is_empty() || path == ":memory:" || url.contains("mode=memory") {
                return Ok(Self::Sqlite(None));
            }
            let path = PathBuf::from(path);
            if let Some(directory) = path.parent().filter(|d| !d.as_os_str().is_empty())
                && !directory.is_dir()
            {
                return Err(DatabaseUrlError::MissingDirectory(directory.to_owned()));
            }
            return Ok(Self::Sqlite(Some(path)));
        }
        match url.split_once("://") {
            Some((scheme, _)) if !scheme.is_empty() => {
                Err(DatabaseUrlError::UnsupportedScheme(scheme.to_owned()))
            }
            _ => Err(DatabaseUrlError::NotAUrl(url.to_owned())),
        }
    }

    /// The SQLite file, when there is one.
    pub fn sqlite_file(&self) -> Option<&Path> {
        match self {
            Self::Sqlite(Some(path)) => Some(path),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_we_open() {
        assert_eq!(
            DatabaseUrl::parse("sqlite://tollgate.db"),
            Ok(DatabaseUrl::Sqlite(Some(PathBuf::from("tollgate.db"))))
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite::memory:"),
            Ok(DatabaseUrl::Sqlite(None))
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite://file:x?mode=memory&cache=shared"),
            Ok(DatabaseUrl::Sqlite(None))
        );
        assert_eq!(
            DatabaseUrl::parse("postgresql://u@db:5432/tollgate"),
            Ok(DatabaseUrl::Postgres)
        );
        let dir = std::env::temp_dir();
        let url = format!("sqlite:{}/x.db?mode=rwc", dir.display());
        assert_eq!(
            DatabaseUrl::parse(&url).unwrap().sqlite_file(),
            Some(dir.join("x.db").as_path())
        );
    }

    #[test]
    fn mistakes_are_named_for_what_they_are() {
        let error = DatabaseUrl::parse("my.db").unwrap_err();
        assert_eq!(error, DatabaseUrlError::NotAUrl("my.db".into()));
        assert!(error.to_string().contains("sqlite://my.db"), "{error}");
        assert_eq!(
            DatabaseUrl::parse("mysql://root@localhost/x"),
            Err(DatabaseUrlError::UnsupportedScheme("mysql".into()))
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite://no-such-directory-here/x.db"),
            Err(DatabaseUrlError::MissingDirectory(PathBuf::from(
                "no-such-directory-here"
            )))
        );
    }
}
