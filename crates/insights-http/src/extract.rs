//! Request extractors that validate strictly and name what is wrong: path ids, the usage
//! query, and the rule that a parameter an endpoint does not define is an error.
//!
//! Each extractor also documents itself in the OpenAPI document, so the document and the
//! validation cannot drift apart.

use std::collections::BTreeMap;
use std::future::{ready, Ready};
use std::marker::PhantomData;

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use insights_core::{
    BrandId, BucketWidth, CircuitId, Comparison, DemandInterval, EntityRef, LocationId,
    OrganizationId, SensorId, UsageRequest, UsageRequestBuilder, Zone, MAX_TOP,
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
use crate::state::AppState;

/// A kind of id that a path segment carries.
pub trait IdParam {
    /// The path parameter's name, which error messages use.
    const NAME: &'static str;
    /// What the id identifies, for the document.
    const DESCRIPTION: &'static str;
    /// The typed id, which names its entity.
    type Id: From<Uuid> + Into<EntityRef> + Copy;
}

macro_rules! id_param {
    ($marker:ident, $name:literal, $id:ty, $description:literal) => {
        #[doc = concat!("The `", $name, "` path parameter.")]
        pub struct $marker;
        impl IdParam for $marker {
            const NAME: &'static str = $name;
            const DESCRIPTION: &'static str = $description;
            type Id = $id;
        }
    };
}

id_param!(
    CircuitParam,
    "circuit_id",
    CircuitId,
    "The circuit's id, a UUID."
);
id_param!(
    OrganizationParam,
    "organization_id",
    OrganizationId,
    "The organization's id, a UUID."
);
id_param!(
    SensorParam,
    "sensor_id",
    SensorId,
    "The electric sensor's id, a UUID."
);
id_param!(
    LocationParam,
    "location_id",
    LocationId,
    "The location's id, a UUID."
);
id_param!(BrandParam, "brand_id", BrandId, "The brand's id, a UUID.");

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
fn strict_query(
    request: &HttpRequest,
    allowed: &[&str],
) -> Result<BTreeMap<String, String>, ApiError> {
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
        if pairs.insert(name.to_string(), value.into_owned()).is_some() {
            return Err(ApiError::invalid_param(
                name.as_ref(),
                format!("`{name}` is given more than once"),
            ));
        }
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

/// The query of a usage endpoint, parsed into a [`UsageRequestBuilder`]: `start`, `end`,
/// `bucket`, `tz`, `demand_interval`, and `top` where `TOP` is true (roll-ups only). The
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
    let param = |name: &str| pairs.get(name).map(String::as_str);
    let window =
        crate::wording::window(param("start"), param("end"), max_window).map_err(ApiError::from)?;
    let bucket = param("bucket")
        .map(|text| {
            BucketWidth::parse(text).ok_or_else(|| {
                let names: Vec<&str> = BucketWidth::ALL
                    .iter()
                    .map(|width| width.as_str())
                    .collect();
                ApiError::invalid_param(
                    "bucket",
                    format!("`bucket` must be one of {}, got {text:?}", names.join(", ")),
                )
            })
        })
        .transpose()?;
    let zone = param("tz")
        .map(|text| {
            Zone::named(text).ok_or_else(|| {
                ApiError::invalid_param(
                    "tz",
                    format!(
                        "`tz` must be an IANA time zone such as America/New_York, got {text:?}"
                    ),
                )
            })
        })
        .transpose()?;
    let demand_interval = param("demand_interval")
        .map(|text| {
            DemandInterval::parse(text).ok_or_else(|| {
                ApiError::invalid_param(
                    "demand_interval",
                    format!(
                        "`demand_interval` must be one of {}, got {text:?}",
                        DemandInterval::NAMES.join(", ")
                    ),
                )
            })
        })
        .transpose()?;
    let top = param("top")
        .map(|text| {
            text.parse::<usize>().map_err(|_| {
                ApiError::invalid_param(
                    "top",
                    format!("`top` must be a whole number from 1 to {MAX_TOP}, got {text:?}"),
                )
            })
        })
        .transpose()?;
    let format = match param("format") {
        None => Format::accepted(request.headers()),
        Some("json") => Format::Json,
        Some("csv") => Format::Csv,
        Some(text) => {
            return Err(ApiError::invalid_param(
                "format",
                format!("`format` must be json or csv, got {text:?}"),
            ))
        }
    };
    let baseload = match param("baseload") {
        None | Some("false") => false,
        Some("true") => true,
        Some(text) => {
            return Err(ApiError::invalid_param(
                "baseload",
                format!("`baseload` must be true or false, got {text:?}"),
            ))
        }
    };
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
    match param("compare") {
        None => {}
        Some("previous") => builder = builder.compare(Comparison::Previous),
        Some("year") => builder = builder.compare(Comparison::Year),
        Some(text) => {
            return Err(ApiError::invalid_param(
                "compare",
                format!("`compare` must be previous or year, got {text:?}"),
            ))
        }
    }
    Ok(UsageQuery {
        request: builder,
        format,
    })
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
