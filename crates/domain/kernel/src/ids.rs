/// Declares a typed identifier over a time-ordered UUID (v7), with the conversions every id of
/// Tollgate needs. Exported so that each domain crate declares its ids the same way.
///
/// The generated type is `Copy`, ordered, `Display`s and parses (`FromStr`) as the hyphenated
/// UUID, and documents all of its items, so crates under `#![warn(missing_docs)]` stay quiet as
/// long as the invocation carries a doc comment:
///
/// ```
/// tollgate_kernel::uuid_id!(
///     /// A thing with an identity.
///     ThingId
/// );
///
/// let id = ThingId::new();
/// assert_eq!(id.to_string().parse::<ThingId>(), Ok(id));
/// assert_eq!(ThingId::from_uuid(id.as_uuid()), id);
/// ```
#[macro_export]
macro_rules! uuid_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name($crate::__private::Uuid);

        impl $name {
            /// A new random (time-ordered) identifier.
            pub fn new() -> Self {
                Self($crate::__private::Uuid::now_v7())
            }

            /// The identifier with this UUID, e.g. one read back from storage.
            pub const fn from_uuid(uuid: $crate::__private::Uuid) -> Self {
                Self(uuid)
            }

            /// The UUID underneath, for storage and the wire.
            pub const fn as_uuid(&self) -> $crate::__private::Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                self.0.fmt(f)
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::__private::uuid::Error;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $crate::__private::Uuid::parse_str(s).map(Self)
            }
        }

        impl ::std::convert::From<$crate::__private::Uuid> for $name {
            fn from(uuid: $crate::__private::Uuid) -> Self {
                Self(uuid)
            }
        }
    };
}

uuid_id!(
    /// A person who can log in.
    UserId
);
uuid_id!(
    /// A tenant: keys, usage, quotas and subscriptions belong to one.
    OrganizationId
);
uuid_id!(
    /// One API key (its secret is never stored); usage is counted per key too.
    ApiKeyId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_text() {
        let id = UserId::new();
        let parsed: UserId = id.to_string().parse().unwrap();
        assert_eq!(parsed, id);
        assert!("not-a-uuid".parse::<OrganizationId>().is_err());
    }
}
