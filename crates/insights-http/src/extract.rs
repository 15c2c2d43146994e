//! Request extractors that validate strictly and name what is wrong: path ids, the usage
//! query, and the rule that a parameter an endpoint does not define is an error.
//!
//! Each extractor also documents itself in the OpenAPI document, so the document and the
//! validation cannot drift apart.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::future::{ready, Future, Ready};
use std::marker::PhantomData;
use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use insights_core::{
    BrandId, BrandTree, BucketWidth, CircuitContext, CircuitId, Comparison, DemandInterval,
    EntityRef, InsightsError, LocationId, LocationSummary, OrganizationId, OrganizationTree,
    Rollable, Scope, SensorDetail, SensorId, UsageRequest, UsageRequestBuilder, Zone,
};
use paperclip::actix::OperationModifier;
use paperclip::v2::models::{
    DataType, DataTypeFormat, DefaultOperationRaw, DefaultSchemaRaw, Either, Parameter, ParameterIn,
};
use paperclip::v2::schema::Apiv2Schema;
use uuid::Uuid;

use crate::answer::Format;
use crate::error::ApiError;
use crate::params::{ParamKind, USAGE_PARAMS};
use crate::state::{AppState, Service};

/// A kind of id that a path segment carries, and the entity it names.
pub trait IdParam {
    /// The path parameter's name, which error messages use.
    const NAME: &'static str;
    /// What the id identifies, for the document.
    const DESCRIPTION: &'static str;
    /// The typed id, which names its entity.
    type Id: From<Uuid> + Into<EntityRef> + Copy;
    /// The entity as its lookup finds it, with what it holds.
    type Entity: Rollable;

    /// Looks the entity up within the caller's scope: the one metadata lookup of a request
    /// about it.
    fn find<'a>(
        insights: &'a Service,
        scope: &'a Scope,
        id: Self::Id,
    ) -> impl Future<Output = Result<Arc<Self::Entity>, InsightsError>> + Send + 'a;
}

macro_rules! id_param {
    ($marker:ident, $name:literal, $id:ty, $entity:ty, $find:ident, $description:literal) => {
        #[doc = concat!("The `", $name, "` path parameter.")]
        pub struct $marker;
        impl IdParam for $marker {
            const NAME: &'static str = $name;
            const DESCRIPTION: &'static str = $description;
            type Id = $id;
            type Entity = $entity;

            fn find<'a>(
                insights: &'a Service,
                scope: &'a Scope,
                id: $id,
            ) -> impl Future<Output = Result<Arc<$entity>, InsightsError>> + Send + 'a {
                insights.$find(scope, id)
            }
        }
    };
}

id_param!(
    CircuitParam,
    "circuit_id",
    CircuitId,
    CircuitContext,
    circuit,
    "The circuit's id, a UUID."
);
id_param!(
    OrganizationParam,
    "organization_id",
    OrganizationId,
    OrganizationTree,
    organization,
    "The organization's id, a UUID."
);
id_param!(
    SensorParam,
    "sensor_id",
    SensorId,
    SensorDetail,
    electric_sensor,
    "The electric sensor's id, a UUID."
);
id_param!(
    LocationParam,
    "location_id",
    LocationId,
    LocationSummary,
    location_summary,
    "The location's id, a UUID."
);
id_param!(
    BrandParam,
    "brand_id",
    BrandId,
    BrandTree,
    brand_metadata,
    "The brand's id, a UUID."
);

/// A typed id from the path; a malformed one is a 400 naming the parameter.
pub struct IdPath<P: IdParam>(pub P::Id, PhantomData<P>);

impl<P: IdParam> FromRequest for IdPath<P> {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let raw = request.match_info().get(P::NAME).unwrap_or_default();
        ready(parse_uuid(raw).map(|uuid| IdPath(P::Id::from(uuid), PhantomData)).ok_or_else(|| {
            ApiError::invalid_param(
                P::NAME,
                format!("`{}` must be a UUID such as 955c3c4d-3a03-4d79-9655-3871f5ad999d, got {raw:?}", P::NAME),
            )
        }))
    }
}

/// Accepts only the hyphenated form, in either case, so every id has one spelling.
fn parse_uuid(text: &str) -> Option<Uuid> {
    (text.len() == 36)
        .then(|| Uuid::parse_str(text).ok())
        .flatten()
}

impl<P: IdParam> Apiv2Schema for IdPath<P> {}

impl<P: IdParam> OperationModifier for IdPath<P> {
    fn update_parameter(op: &mut DefaultOperationRaw) {
        op.parameters.push(Either::Right(Parameter {
            name: P::NAME.to_owned(),
            in_: ParameterIn::Path,
            required: true,
            data_type: Some(DataType::String),
            format: Some(DataTypeFormat::Uuid),
            description: Some(P::DESCRIPTION.to_owned()),
            ..Default::default()
        }));
    }

    fn update_definitions(_: &mut BTreeMap<String, DefaultSchemaRaw>) {}
}

/// Splits the query string into pairs, rejecting parameters outside `allowed` and repeats.
/// Names and values borrow from the query unless they had escapes to decode.
fn strict_query<'q>(
    request: &'q HttpRequest,
    allowed: &[&str],
) -> Result<BTreeMap<Cow<'q, str>, Cow<'q, str>>, ApiError> {
    let mut pairs = BTreeMap::new();
    for (name, value) in form_urlencoded::parse(request.query_string().as_bytes()) {
        if !allowed.contains(&name.as_ref()) {
            let accepted = match allowed {
                [] => "it takes no query parameters".to_owned(),
                names => format!(
                    "it accepts {}",
                    names
                        .iter()
                        .map(|name| format!("`{name}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            return Err(ApiError::invalid_param(
                name.as_ref(),
                format!("`{name}` is not a parameter of this endpoint; {accepted}"),
            ));
        }
        if pairs.contains_key(&name) {
            return Err(ApiError::invalid_param(
                name.as_ref(),
                format!("`{name}` is given more than once"),
            ));
        }
        pairs.insert(name, value);
    }
    Ok(pairs)
}

/// The endpoint takes no query parameters; any parameter is a 400 naming it.
pub struct NoQuery;

impl FromRequest for NoQuery {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(strict_query(request, &[]).map(|_| NoQuery))
    }
}

impl Apiv2Schema for NoQuery {}

impl OperationModifier for NoQuery {
    fn update_parameter(_: &mut DefaultOperationRaw) {}
    fn update_definitions(_: &mut BTreeMap<String, DefaultSchemaRaw>) {}
}

/// The query of a usage endpoint, parsed into a [`UsageRequestBuilder`] and a [`Format`]:
/// every parameter of [`USAGE_PARAMS`], `top` only where `TOP` is true (roll-ups). The
/// request is built later, by [`build_request`], once admission has said where: building a
/// year of 5-minute intervals is heavy work itself.
pub struct UsageQuery<const TOP: bool> {
    /// The request's options.
    pub request: UsageRequestBuilder,
    /// The form of the answer: `format`, else the `Accept` header.
    pub format: Format,
}

/// Builds a usage request, checking its options together (a 400 naming the parameter).
pub fn build_request(builder: UsageRequestBuilder) -> Result<UsageRequest, ApiError> {
    builder
        .build()
        .map_err(|error| ApiError::from(crate::wording::usage_request_error(&error)))
}

/// A circuit's usage query, without `top`.
pub type CircuitQuery = UsageQuery<false>;

/// A roll-up's usage query, with `top`.
pub type RollupQuery = UsageQuery<true>;

impl<const TOP: bool> FromRequest for UsageQuery<TOP> {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(usage_from_request::<TOP>(request))
    }
}

/// The names of the parameters a usage endpoint accepts: with `top` or without.
fn usage_param_names(top: bool) -> &'static [&'static str] {
    static NAMES: std::sync::LazyLock<[Vec<&'static str>; 2]> = std::sync::LazyLock::new(|| {
        let names = |top: bool| {
            USAGE_PARAMS
                .iter()
                .filter(|param| top || !param.rollups_only)
                .map(|param| param.name)
                .collect()
        };
        [names(false), names(true)]
    });
    &NAMES[usize::from(top)]
}

fn usage_from_request<const TOP: bool>(request: &HttpRequest) -> Result<UsageQuery<TOP>, ApiError> {
    let pairs = strict_query(request, usage_param_names(TOP))?;
    let max_window = request
        .app_data::<web::Data<AppState>>()
        .map(|state| state.max_window)
        .ok_or_else(|| ApiError::Internal {
            cause: "application state is missing".to_owned(),
        })?;
    let param = |name: &str| pairs.get(name).map(Cow::as_ref);
    let window =
        crate::wording::window(param("start"), param("end"), max_window).map_err(ApiError::from)?;
    // Every other value is checked against the kind `USAGE_PARAMS` declares; each then
    // converts, or the declaration and the parser disagree, which is the service's fault.
    let value = |name: &str| declared(name, param(name));
    let bucket = converted("bucket", value("bucket")?, BucketWidth::parse)?;
    let zone = converted("tz", value("tz")?, Zone::named)?;
    let demand_interval = converted("demand_interval", value("demand_interval")?, |text| {
        DemandInterval::parse(text)
    })?;
    let top = converted("top", value("top")?, |text| text.parse::<usize>().ok())?;
    let format = converted("format", value("format")?, Format::parse)?
        .unwrap_or_else(|| Format::accepted(request.headers()));
    let baseload = value("baseload")? == Some("true");
    let compare = converted("compare", value("compare")?, Comparison::parse)?;
    let mut builder = UsageRequest::builder(window);
    if let Some(width) = bucket {
        builder = builder.bucket(width);
    }
    if let Some(zone) = zone {
        builder = builder.zone(zone);
    }
    if let Some(interval) = demand_interval {
        builder = builder.demand_interval(interval);
    }
    if let Some(count) = top {
        builder = builder.top(count);
    }
    if baseload {
        builder = builder.baseload();
    }
    if let Some(kind) = compare {
        builder = builder.compare(kind);
    }
    Ok(UsageQuery {
        request: builder,
        format,
    })
}

/// A checked value of the usage parameter `name`, converted by `parse`; a value its check let
/// through that `parse` refuses is the service's fault (a 500), never a silent default.
fn converted<T>(
    name: &str,
    value: Option<&str>,
    parse: impl Fn(&str) -> Option<T>,
) -> Result<Option<T>, ApiError> {
    value
        .map(|text| {
            parse(text).ok_or_else(|| ApiError::Internal {
                cause: format!("`{name}`={text:?} passed its declared check but does not parse"),
            })
        })
        .transpose()
}

/// The value of the usage parameter `name`, if given, checked against the kind
/// [`USAGE_PARAMS`] declares for it: anything else is a 400 that names the parameter and says
/// what it must be. Instants are checked with the window, and a count's range by the core.
fn declared<'a>(name: &str, value: Option<&'a str>) -> Result<Option<&'a str>, ApiError> {
    let (Some(text), Some(param)) = (value, USAGE_PARAMS.iter().find(|param| param.name == name))
    else {
        return Ok(value);
    };
    let must_be = match param.kind {
        ParamKind::Instant => return Ok(value),
        ParamKind::BucketWidth if BucketWidth::parse(text).is_none() => {
            let names: Vec<&str> = BucketWidth::ALL
                .iter()
                .map(|width| width.as_str())
                .collect();
            format!("one of {}", names.join(", "))
        }
        ParamKind::OneOf(words) if !words.contains(&text) => match words {
            [first, second] => format!("{first} or {second}"),
            _ => format!("one of {}", words.join(", ")),
        },
        ParamKind::Zone if Zone::named(text).is_none() => {
            "an IANA time zone such as America/New_York".to_owned()
        }
        ParamKind::Boolean if !["true", "false"].contains(&text) => "true or false".to_owned(),
        ParamKind::Count(most) if text.parse::<usize>().is_err() => {
            format!("a whole number from 1 to {most}")
        }
        _ => return Ok(value),
    };
    Err(ApiError::invalid_param(
        name,
        format!("`{name}` must be {must_be}, got {text:?}"),
    ))
}

/// Every zone name this build knows, sorted.
pub fn zone_names() -> Vec<&'static str> {
    let mut zones: Vec<&str> = Zone::all().map(|zone| zone.name()).collect();
    zones.sort_unstable();
    zones
}

/// A regular expression that matches exactly the zone names this build knows: the names as
/// alternatives, anchored. The document then validates what the server does, and a fuzzer
/// draws real zones from it, without an enumeration.
pub fn zone_pattern() -> String {
    let names: Vec<String> = zone_names()
        .into_iter()
        .map(|name| {
            name.chars()
                .flat_map(|c| {
                    let special = "\\^$.|?*+()[]{}".contains(c);
                    special
                        .then_some('\\')
                        .into_iter()
                        .chain(std::iter::once(c))
                })
                .collect()
        })
        .collect();
    format!("^(?:{})$", names.join("|"))
}

impl<const TOP: bool> Apiv2Schema for UsageQuery<TOP> {}

impl<const TOP: bool> OperationModifier for UsageQuery<TOP> {
    fn update_parameter(op: &mut DefaultOperationRaw) {
        let words = |words: &[&str]| -> Vec<serde_json::Value> {
            words
                .iter()
                .map(|word| serde_json::Value::from(*word))
                .collect()
        };
        let parameters = USAGE_PARAMS
            .iter()
            .filter(|param| TOP || !param.rollups_only)
            .map(|param| {
                let parameter = Parameter {
                    name: param.name.to_owned(),
                    in_: ParameterIn::Query,
                    required: param.required,
                    data_type: Some(DataType::String),
                    description: Some(param.description.to_owned()),
                    ..Default::default()
                };
                match param.kind {
                    ParamKind::Instant => Parameter {
                        format: Some(DataTypeFormat::DateTime),
                        ..parameter
                    },
                    ParamKind::BucketWidth => {
                        let widths: Vec<&str> = BucketWidth::ALL
                            .iter()
                            .map(|width| width.as_str())
                            .collect();
                        Parameter {
                            enum_: words(&widths),
                            ..parameter
                        }
                    }
                    ParamKind::OneOf(names) => Parameter {
                        enum_: words(names),
                        ..parameter
                    },
                    ParamKind::Zone => Parameter {
                        pattern: Some(zone_pattern()),
                        ..parameter
                    },
                    ParamKind::Boolean => Parameter {
                        data_type: Some(DataType::Boolean),
                        ..parameter
                    },
                    ParamKind::Count(max) => Parameter {
                        data_type: Some(DataType::Integer),
                        minimum: Some(1.0),
                        maximum: Some(max as f32),
                        ..parameter
                    },
                }
            });
        op.parameters.extend(parameters.map(Either::Right));
    }

    fn update_definitions(_: &mut BTreeMap<String, DefaultSchemaRaw>) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(name: &str, value: &str, expected: Result<(), &str>) {
        let answer = declared(name, Some(value)).map(|checked| assert_eq!(checked, Some(value)));
        assert_eq!(
            answer.map_err(|error| error.to_string()),
            expected.map_err(str::to_owned),
            "{name}={value}"
        );
    }

    #[test]
    fn values_are_checked_against_their_declared_kind() {
        check("bucket", "1h", Ok(()));
        check(
            "bucket",
            "2h",
            Err("`bucket` must be one of 1m, 5m, 15m, 30m, 1h, 1d, 1w, 1mo, got \"2h\""),
        );
        check("tz", "Asia/Kathmandu", Ok(()));
        check(
            "tz",
            "Mars/Base",
            Err("`tz` must be an IANA time zone such as America/New_York, got \"Mars/Base\""),
        );
        check("demand_interval", "15m", Ok(()));
        check("format", "csv", Ok(()));
        check(
            "format",
            "xml",
            Err("`format` must be json or csv, got \"xml\""),
        );
        check("compare", "year", Ok(()));
        check(
            "compare",
            "last",
            Err("`compare` must be previous or year, got \"last\""),
        );
        check("baseload", "false", Ok(()));
        check(
            "baseload",
            "yes",
            Err("`baseload` must be true or false, got \"yes\""),
        );
        // A count's range is the core's to check; here only that it is a whole number.
        check("top", "0", Ok(()));
        check(
            "top",
            "-1",
            Err(&format!(
                "`top` must be a whole number from 1 to {}, got \"-1\"",
                insights_core::MAX_TOP
            )),
        );
        // Instants are checked with the window.
        check("start", "yesterday", Ok(()));
    }
}
