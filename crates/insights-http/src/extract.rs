//! Request extractors that validate strictly and name what is wrong: path ids, the window
//! query, and the rule that a parameter an endpoint does not define is an error.
//!
//! Each extractor also documents itself in the OpenAPI document, so the document and the
//! validation cannot drift apart.

use std::collections::BTreeMap;
use std::future::{ready, Ready};
use std::marker::PhantomData;

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use insights_core::{BrandId, CircuitId, LocationId, OrganizationId, SensorId, Window};
use paperclip::actix::OperationModifier;
use paperclip::v2::models::{
    DataType, DataTypeFormat, DefaultOperationRaw, DefaultSchemaRaw, Either, Parameter, ParameterIn,
};
use paperclip::v2::schema::Apiv2Schema;
use uuid::Uuid;

use crate::error::ApiError;
use crate::state::AppState;

/// A kind of id that a path segment carries.
pub trait IdParam {
    /// The path parameter's name, which error messages use.
    const NAME: &'static str;
    /// What the id identifies, for the document.
    const DESCRIPTION: &'static str;
    /// The typed id.
    type Id: From<Uuid>;
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

/// The `start` and `end` query parameters, validated into a [`Window`].
pub struct WindowQuery(pub Window);

impl FromRequest for WindowQuery {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(window_from_request(request))
    }
}

fn window_from_request(request: &HttpRequest) -> Result<WindowQuery, ApiError> {
    let pairs = strict_query(request, &["start", "end"])?;
    let max_window = request
        .app_data::<web::Data<AppState>>()
        .map(|state| state.max_window)
        .ok_or_else(|| ApiError::Internal {
            cause: "application state is missing".to_owned(),
        })?;
    let window = Window::parse(
        pairs.get("start").map(String::as_str),
        pairs.get("end").map(String::as_str),
        max_window,
    )
    .map_err(|error| ApiError::invalid_param(error.param(), error.to_string()))?;
    Ok(WindowQuery(window))
}

impl Apiv2Schema for WindowQuery {}

impl OperationModifier for WindowQuery {
    fn update_parameter(op: &mut DefaultOperationRaw) {
        for (name, description) in [
            ("start", "Inclusive start of the window: RFC 3339 with `Z` or `±hh:mm`, any fraction digits down to nanoseconds."),
            ("end", "Exclusive end of the window, after `start` and at most the configured maximum (default 366 days) later."),
        ] {
            op.parameters.push(Either::Right(Parameter {
                name: name.to_owned(),
                in_: ParameterIn::Query,
                required: true,
                data_type: Some(DataType::String),
                format: Some(DataTypeFormat::DateTime),
                description: Some(description.to_owned()),
                ..Default::default()
            }));
        }
    }

    fn update_definitions(_: &mut BTreeMap<String, DefaultSchemaRaw>) {}
}
