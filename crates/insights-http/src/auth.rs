//! Optional API keys: the key file, constant-time lookup, and the [`Caller`] extractor that
//! turns an `Authorization: Bearer` header into the core's [`Scope`].
//!
//! The file holds SHA-256 hashes, never keys, one per line:
//! `brand:<uuid> sha256:<64 hex digits> [rate=<per second>/<burst>] [label]`,
//! `organization:<uuid> sha256:… [rate=…] [label]`, or `operator sha256:… [label]` for a key
//! that reads `/metrics` and no tenant's data. `rate=` gives the key a rate limit of its own
//! in place of `INSIGHTS_RATE_LIMIT` (`crate::ratelimit`).
//!
//! The middleware identifies the caller before routing and extraction (`tenant_scope`,
//! `may_read_metrics`); this module reads no application state.

use std::collections::BTreeMap;
use std::fmt;
use std::future::{ready, Ready};

use actix_web::dev::Payload;
use actix_web::http::header::{self, HeaderMap};
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use insights_core::{BrandId, OrganizationId, Scope};
use paperclip::actix::OperationModifier;
use paperclip::v2::models::{DefaultOperationRaw, DefaultSchemaRaw};
use paperclip::v2::schema::Apiv2Schema;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::ApiError;
use crate::ratelimit::Rate;

/// The prefix of every key `cargo xtask apikey` makes, so leaked keys are easy to spot.
pub const KEY_PREFIX: &str = "ins_";

/// Why a key file cannot be used; names the line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyFileError {
    /// The 1-based line, or 0 for the whole file.
    pub line: usize,
    /// What is wrong.
    pub reason: String,
}

impl fmt::Display for KeyFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            f.write_str(&self.reason)
        } else {
            write!(f, "line {}: {}", self.line, self.reason)
        }
    }
}

impl std::error::Error for KeyFileError {}

/// What a key may see: one brand or one organization, never everything; or, for an
/// operator, `/metrics` and no tenant's data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyScope {
    /// The brand and everything under it.
    Brand(BrandId),
    /// The organization and everything under it.
    Organization(OrganizationId),
    /// The service's operations: `/metrics`, and no tenant's data.
    Operator,
}

impl KeyScope {
    /// The tenant scope a key reads data in; `None` for an operator's key.
    pub fn tenant(self) -> Option<Scope> {
        match self {
            KeyScope::Brand(id) => Some(Scope::Brand(id)),
            KeyScope::Organization(id) => Some(Scope::Organization(id)),
            KeyScope::Operator => None,
        }
    }
}

/// One key: the hash of its text and what it may see.
#[derive(Clone)]
struct KeyEntry {
    hash: [u8; 32],
    scope: KeyScope,
    /// The key's own rate limit, if the file gives one.
    rate: Option<Rate>,
}

/// A presented key the ring holds: its position in the file and what it may see.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KnownKey {
    /// The key's position among the file's keys, which names its rate-limit bucket.
    pub index: usize,
    /// What the key may see.
    pub scope: KeyScope,
}

/// The accepted keys, as hashes.
#[derive(Clone)]
pub struct KeyRing {
    entries: Vec<KeyEntry>,
}

impl fmt::Debug for KeyRing {
    // Hashes are not secrets, but they have no business in logs either.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyRing({} keys)", self.entries.len())
    }
}

impl KeyRing {
    /// Parses the key file's text.
    pub fn parse(text: &str) -> Result<KeyRing, KeyFileError> {
        let mut entries = Vec::new();
        let mut lines_by_hash = BTreeMap::new();
        for (index, line) in text.lines().enumerate() {
            let line_number = index + 1;
            let error = |reason: String| KeyFileError {
                line: line_number,
                reason,
            };
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut fields = line.split_whitespace();
            let scope = parse_scope(fields.next().unwrap_or_default()).map_err(error)?;
            let hash = parse_hash(fields.next().unwrap_or_default()).map_err(error)?;
            if let Some(first) = lines_by_hash.insert(hash, line_number) {
                return Err(error(format!("repeats the key hash of line {first}")));
            }
            // The rest is an optional rate and a free-text label.
            let rate = match fields.next().and_then(|field| field.strip_prefix("rate=")) {
                Some(text) => Some(Rate::parse(text).map_err(error)?),
                None => None,
            };
            entries.push(KeyEntry { hash, scope, rate });
        }
        if entries.is_empty() {
            return Err(KeyFileError {
                line: 0,
                reason: "holds no keys; unset INSIGHTS_API_KEYS_FILE to turn authentication off"
                    .to_owned(),
            });
        }
        Ok(KeyRing { entries })
    }

    /// How many keys the ring holds.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Always false: a ring holds at least one key.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The scope of a presented key, or `None` for an unknown one.
    pub fn scope_of(&self, key: &str) -> Option<KeyScope> {
        self.find(key).map(|known| known.scope)
    }

    /// A presented key's position and scope, or `None` for an unknown one.
    ///
    /// Every stored hash is compared in constant time, and all of them are compared, so the
    /// time taken says nothing about how close a guess came.
    pub fn find(&self, key: &str) -> Option<KnownKey> {
        let presented: [u8; 32] = Sha256::digest(key.as_bytes()).into();
        let mut found = None;
        for (index, entry) in self.entries.iter().enumerate() {
            if bool::from(entry.hash.ct_eq(&presented)) {
                found = Some(KnownKey {
                    index,
                    scope: entry.scope,
                });
            }
        }
        found
    }

    /// Each key's own rate limit, by position.
    pub fn rates(&self) -> Vec<Option<Rate>> {
        self.entries.iter().map(|entry| entry.rate).collect()
    }
}

/// The hex SHA-256 of a key, as the key file stores it.
pub fn hash_key(key: &str) -> String {
    Sha256::digest(key.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// The key file line for a key with this scope. The label goes where the file reads an
/// optional `rate=`, so a label beginning with `rate=` would be read as the key's rate;
/// `cargo xtask apikey` refuses one.
pub fn key_line(scope: &KeyScope, key: &str, label: &str) -> String {
    let scope = match scope {
        KeyScope::Brand(id) => format!("brand:{id}"),
        KeyScope::Organization(id) => format!("organization:{id}"),
        KeyScope::Operator => "operator".to_owned(),
    };
    format!("{scope} sha256:{} {label}", hash_key(key))
        .trim_end()
        .to_owned()
}

fn parse_scope(field: &str) -> Result<KeyScope, String> {
    let bad = || format!("scope {field:?} is not brand:<uuid>, organization:<uuid> or operator");
    if field == "operator" {
        return Ok(KeyScope::Operator);
    }
    let (kind, id) = field.split_once(':').ok_or_else(bad)?;
    let id: uuid::Uuid = id.parse().map_err(|_| bad())?;
    match kind {
        "brand" => Ok(KeyScope::Brand(id.into())),
        "organization" => Ok(KeyScope::Organization(id.into())),
        _ => Err(bad()),
    }
}

fn parse_hash(field: &str) -> Result<[u8; 32], String> {
    let bad = || "the hash is not sha256: and 64 hex digits".to_owned();
    let hex = field.strip_prefix("sha256:").ok_or_else(bad)?;
    if hex.len() != 64 || !hex.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        return Err(bad());
    }
    let mut hash = [0u8; 32];
    for (index, byte) in hash.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[index * 2..index * 2 + 2], 16).map_err(|_| bad())?;
    }
    Ok(hash)
}

/// Who sent a request, from its `Authorization` header; `None` when API keys are off.
///
/// Exactly one header is accepted: two could be read differently by a proxy and by this
/// service.
pub fn identify(keys: Option<&KeyRing>, headers: &HeaderMap) -> Result<Option<KnownKey>, ApiError> {
    let Some(keys) = keys else {
        return Ok(None);
    };
    let mut values = headers.get_all(header::AUTHORIZATION);
    let value = values.next().ok_or(ApiError::Unauthorized(
        "this service needs an API key: send Authorization: Bearer <key>",
    ))?;
    if values.next().is_some() {
        return Err(ApiError::Unauthorized(
            "send one Authorization header, not several",
        ));
    }
    let key = value
        .to_str()
        .ok()
        .and_then(|value| value.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, key)| key.trim())
        .ok_or(ApiError::Unauthorized(
            "the Authorization header must be Bearer <key>",
        ))?;
    keys.find(key)
        .map(Some)
        .ok_or(ApiError::Unauthorized("the API key is not valid"))
}

/// The tenant scope of a data request, and the key it came with: everything and no key when
/// keys are off, the key's brand or organization when on. An operator's key reads no
/// tenant's data.
pub fn tenant_scope(
    keys: Option<&KeyRing>,
    headers: &HeaderMap,
) -> Result<(Scope, Option<KnownKey>), ApiError> {
    match identify(keys, headers)? {
        None => Ok((Scope::All, None)),
        Some(key) => {
            key.scope
                .tenant()
                .map(|scope| (scope, Some(key)))
                .ok_or(ApiError::Unauthorized(
                    "an operator's key reads /metrics only; use a brand's or an organization's key",
                ))
        }
    }
}

/// Whether a request may read `/metrics`: with keys on (and `INSIGHTS_METRICS_REQUIRE_KEY`),
/// only with an operator's key, because the figures cover every tenant.
pub fn may_read_metrics(
    keys: Option<&KeyRing>,
    require_key: bool,
    headers: &HeaderMap,
) -> Result<(), ApiError> {
    if !require_key {
        return Ok(());
    }
    match identify(keys, headers)?.map(|key| key.scope) {
        None | Some(KeyScope::Operator) => Ok(()),
        Some(_) => Err(ApiError::Forbidden(
            "/metrics covers every tenant; it needs an operator's key",
        )),
    }
}

/// The caller's tenant scope, which the middleware found before any other work on the
/// request (so a request without a valid key costs no parsing). A handler that takes a
/// `Caller` on a route the middleware did not authenticate fails closed.
pub struct Caller(pub Scope);

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let scope = request.extensions().get::<Scope>().copied();
        ready(scope.map(Caller).ok_or_else(|| ApiError::Internal {
            cause: format!(
                "{} takes a Caller, but the middleware authenticated no caller for it",
                request.path()
            ),
        }))
    }
}

// The security requirement is added to the document in `openapi`, where it can say that
// it applies only when the deployment turns keys on.
impl Apiv2Schema for Caller {}

impl OperationModifier for Caller {
    fn update_parameter(_: &mut DefaultOperationRaw) {}
    fn update_definitions(_: &mut BTreeMap<String, DefaultSchemaRaw>) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    const BRAND: &str = "11111111-1111-1111-1111-111111111111";
    const ORGANIZATION: &str = "955c3c4d-3a03-4d79-9655-3871f5ad999d";

    fn check(file: &str, expected: Result<usize, &str>) {
        let actual = KeyRing::parse(file)
            .map(|ring| ring.len())
            .map_err(|error| error.to_string());
        assert_eq!(actual, expected.map_err(str::to_owned));
    }

    #[test]
    fn parses_the_key_file_and_names_bad_lines() {
        let brand_line = key_line(
            &KeyScope::Brand(BRAND.parse().unwrap()),
            "ins_a",
            "dashboard",
        );
        let organization_line = key_line(
            &KeyScope::Organization(ORGANIZATION.parse().unwrap()),
            "ins_b",
            "",
        );
        check(
            &format!("# keys\n\n{brand_line}\n  {organization_line}  \n"),
            Ok(2),
        );
        check(
            "# nothing\n",
            Err("holds no keys; unset INSIGHTS_API_KEYS_FILE to turn authentication off"),
        );
        check(
            &format!("tenant:{BRAND} sha256:{}", hash_key("x")),
            Err(&format!(
                "line 1: scope \"tenant:{BRAND}\" is not brand:<uuid>, organization:<uuid> or operator"
            )),
        );
        check(
            &format!("brand:{BRAND} {}", hash_key("x")),
            Err("line 1: the hash is not sha256: and 64 hex digits"),
        );
        check(
            &format!("brand:{BRAND} sha256:{}", &hash_key("x")[1..]),
            Err("line 1: the hash is not sha256: and 64 hex digits"),
        );
        check(
            &format!("{brand_line}\n# again\n{brand_line}\n"),
            Err("line 3: repeats the key hash of line 1"),
        );
        check(
            &format!("brand:{BRAND} sha256:{} rate=5/10 dashboard", hash_key("x")),
            Ok(1),
        );
        check(
            &format!("brand:{BRAND} sha256:{} rate=5", hash_key("x")),
            Err("line 1: rate \"5\" is not <requests per second>/<burst>, both 1 or more"),
        );
    }

    #[test]
    fn a_key_may_carry_its_own_rate() {
        let ring = KeyRing::parse(&format!(
            "brand:{BRAND} sha256:{} rate=5/10 dashboard\norganization:{ORGANIZATION} sha256:{} monolith",
            hash_key("ins_a"),
            hash_key("ins_b")
        ))
        .unwrap();
        let five = Rate::parse("5/10").unwrap();
        assert_eq!(ring.rates(), [Some(five), None]);
        assert_eq!(ring.find("ins_b").map(|key| key.index), Some(1));
    }

    #[test]
    fn finds_the_scope_of_a_key_only() {
        let brand = KeyScope::Brand(BRAND.parse().unwrap());
        let organization = KeyScope::Organization(ORGANIZATION.parse().unwrap());
        let ring = KeyRing::parse(&format!(
            "{}\n{}\n{}\n",
            key_line(&brand, "ins_brand", ""),
            key_line(&organization, "ins_organization", ""),
            key_line(&KeyScope::Operator, "ins_operator", "ops"),
        ))
        .unwrap();
        assert_eq!(ring.scope_of("ins_brand"), Some(brand));
        assert_eq!(ring.scope_of("ins_organization"), Some(organization));
        assert_eq!(ring.scope_of("ins_operator"), Some(KeyScope::Operator));
        assert_eq!(KeyScope::Operator.tenant(), None);
        assert_eq!(brand.tenant(), Some(Scope::Brand(BRAND.parse().unwrap())));
        assert_eq!(ring.scope_of("ins_brand "), None);
        assert_eq!(ring.scope_of(""), None);
        assert_eq!(ring.scope_of(&hash_key("ins_brand")), None);
    }

    #[test]
    fn identifies_callers_from_exactly_one_bearer_header() {
        fn check(headers: &[&str], expected: Result<Option<KeyScope>, &str>) {
            let brand = KeyScope::Brand(BRAND.parse().unwrap());
            let ring = KeyRing::parse(&key_line(&brand, "ins_brand", "")).unwrap();
            let mut map = HeaderMap::new();
            for value in headers {
                map.append(
                    header::AUTHORIZATION,
                    header::HeaderValue::from_str(value).unwrap(),
                );
            }
            let actual = identify(Some(&ring), &map)
                .map(|key| key.map(|key| key.scope))
                .map_err(|error| error.to_string());
            assert_eq!(actual, expected.map_err(str::to_owned), "{headers:?}");
        }
        let brand = Some(KeyScope::Brand(BRAND.parse().unwrap()));
        check(&["Bearer ins_brand"], Ok(brand));
        check(&["bearer  ins_brand "], Ok(brand));
        check(
            &[],
            Err("this service needs an API key: send Authorization: Bearer <key>"),
        );
        check(
            &["Bearer ins_brand", "Bearer ins_brand"],
            Err("send one Authorization header, not several"),
        );
        check(
            &["Basic ins_brand"],
            Err("the Authorization header must be Bearer <key>"),
        );
        check(&["Bearer ins_other"], Err("the API key is not valid"));
        assert_eq!(identify(None, &HeaderMap::new()).unwrap(), None);
    }

    #[test]
    fn hashes_as_sha256_hex() {
        // The SHA-256 test vector of "abc" (FIPS 180-2).
        assert_eq!(
            hash_key("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
