//! `Authorization` header → credential → principal, as the server's extractor does it: the
//! server's own `bearer` reads the header; an API key (`tg_…`) goes to `parse_key`, anything
//! else to the access-token verifier (HS256 JWT with a fixed secret). Nothing may panic. Round
//! trip: a token issued with the secret verifies to its claims, and every mutation of it either
//! fails or yields the very same claims.

#![no_main]

use std::sync::{Arc, OnceLock};

use chrono::{Duration, Utc};
use http::header::AUTHORIZATION;
use http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;
use tollgate_identity::{
    AccessTokenCodec, AccessTokenVerifier, AuthMethod, JwtSecret, RevocationList, Role, SessionId,
};
use tollgate_kernel::{OrganizationId, UserId};
use tollgate_server::auth::{API_KEY_PREFIX, bearer};

const SECRET: [u8; 32] = *b"fuzz-jwt-secret-0123456789abcdef";

fn codec() -> &'static AccessTokenCodec {
    static CODEC: OnceLock<AccessTokenCodec> = OnceLock::new();
    CODEC.get_or_init(|| {
        AccessTokenCodec::new(
            &JwtSecret::new(SECRET.to_vec()).unwrap(),
            "tollgate",
            "tollgate-api",
            Duration::minutes(15),
        )
    })
}

fn verifier() -> &'static AccessTokenVerifier {
    static VERIFIER: OnceLock<AccessTokenVerifier> = OnceLock::new();
    VERIFIER
        .get_or_init(|| AccessTokenVerifier::new(codec().clone(), Arc::new(RevocationList::new())))
}

/// What the extractor does with a credential, short of storage.
fn authenticate(credential: &str) {
    if credential.starts_with(API_KEY_PREFIX) {
        let _ = tollgate_keys::parse_key(credential);
    } else if let Ok(principal) = verifier().verify(credential) {
        assert_eq!(principal.method, AuthMethod::AccessToken);
        assert!(principal.session_id.is_some() && principal.key_id.is_none());
    }
}

fn bearer_of(value: &[u8]) -> Option<String> {
    let value = HeaderValue::from_bytes(value).ok()?;
    let mut headers = HeaderMap::new();
    headers.insert(AUTHORIZATION, value);
    match bearer(&headers) {
        Ok(credential) => {
            let credential = credential.expect("a present header gives a credential or an error");
            assert!(!credential.is_empty());
            assert_eq!(credential, credential.trim());
            Some(credential.to_owned())
        }
        Err(error) => {
            assert_eq!(error.status().as_u16(), 401);
            None
        }
    }
}

fn uuid_from(data: &[u8], at: usize) -> uuid::Uuid {
    let mut bytes = [0u8; 16];
    for (i, byte) in bytes.iter_mut().enumerate() {
        *byte = data.get(at + i).copied().unwrap_or(i as u8);
    }
    uuid::Uuid::from_bytes(bytes)
}

fuzz_target!(|data: &[u8]| {
    // 1. The input as the header's value, and as a bare token.
    if let Some(credential) = bearer_of(data) {
        authenticate(&credential);
    }
    let text = String::from_utf8_lossy(data);
    let _ = codec().decode(&text);
    authenticate(&text);

    // 2. Round trip with claims taken from the input.
    let user = UserId::from_uuid(uuid_from(data, 0));
    let organization = OrganizationId::from_uuid(uuid_from(data, 16));
    let session = SessionId::from_uuid(uuid_from(data, 32));
    let role = if data.get(48).is_some_and(|b| b & 1 == 1) {
        Role::Admin
    } else {
        Role::User
    };
    let token = codec()
        .issue(user, organization, role, session, Utc::now())
        .expect("issuing never fails");
    let claims = codec().decode(&token).expect("a fresh token decodes");
    assert_eq!(
        (
            claims.user_id(),
            claims.organization_id(),
            claims.session_id()
        ),
        (user, organization, session)
    );
    let principal = verifier().verify(&token).expect("a fresh token verifies");
    assert_eq!((principal.user_id, principal.role), (user, role));
    // The server reads it back out of the header, whatever the scheme's case.
    let scheme =
        ["Bearer", "bearer", "BEARER"][usize::from(data.get(49).copied().unwrap_or(0)) % 3];
    assert_eq!(
        bearer_of(format!("{scheme} {token}").as_bytes()).as_deref(),
        Some(token.as_str())
    );

    // Mutations driven by the rest of the input: replace, insert or delete one byte each.
    let mut mutated = token.clone().into_bytes();
    for edit in data.get(50..).unwrap_or_default().chunks_exact(3).take(8) {
        let position = usize::from(u16::from_le_bytes([edit[0], edit[1]])) % (mutated.len() + 1);
        match edit[2] % 3 {
            0 if position < mutated.len() => mutated[position] = edit[2],
            1 => mutated.insert(position, edit[2]),
            _ if position < mutated.len() => {
                mutated.remove(position);
            }
            _ => {}
        }
    }
    let Ok(mutated) = String::from_utf8(mutated) else {
        return;
    };
    match codec().decode(&mutated) {
        Ok(decoded) => assert_eq!(decoded, claims, "{mutated:?} decoded to other claims"),
        Err(_) => assert!(verifier().verify(&mutated).is_err()),
    }
    if let Ok(principal) = verifier().verify(&mutated) {
        assert_eq!(
            (principal.user_id, principal.organization_id, principal.role),
            (user, organization, role)
        );
    }
});
