//! `ApiError`, the one error type of the HTTP layer, rendered as RFC 9457 problem details.
//!
//! A 4xx carries a message that names the problem. A 5xx says nothing about internals; its
//! cause is logged once, when the response is rendered.

use std::collections::BTreeMap;

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use insights_core::{InsightsError, MetadataError, TimeSeriesError};
use paperclip::v2::models::{DataType, DefaultOperationRaw, DefaultSchemaRaw, Either, Response};
use paperclip::v2::schema::Apiv2Errors;
use serde::Serialize;

use crate::admission::{Refusal, Refused};

/// The media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// Seconds a client should wait before retrying after a 503.
pub const RETRY_AFTER_SECONDS: u32 = 2;

/// One bad request parameter: its name and why it was rejected.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct InvalidParam {
    /// The parameter's name, as the client sent it.
    pub name: String,
    /// Why it was rejected.
    pub reason: String,
}

/// Everything a request can fail with.
#[derive(Debug)]
pub enum ApiError {
    /// 400: a parameter is missing, malformed, undefined or out of range.
    InvalidParam(InvalidParam),
    /// 400: the path percent-escapes an unreserved character (`%76` for `v`), so the router
    /// would match another spelling than the one the key check reads.
    EncodedPath,
    /// 401: API keys are on and the request has none, or not a valid one.
    Unauthorized(&'static str),
    /// 403: the key is valid but may not read this (a tenant's key on `/metrics`).
    Forbidden(&'static str),
    /// 404: the id names no entity, or the path names no route.
    NotFound(String),
    /// 429: the caller's rate limit is spent until `retry_after` has passed.
    RateLimited {
        /// The caller's rate.
        rate: crate::ratelimit::Rate,
        /// How long until one more request is allowed.
        retry_after: std::time::Duration,
    },
    /// 414: the query string is longer than the limit.
    QueryTooLong {
        /// The query string's length in bytes.
        length: usize,
        /// `INSIGHTS_MAX_QUERY_BYTES`.
        limit: usize,
    },
    /// 503: the request was still unanswered when its time ran out.
    TimedOut {
        /// `INSIGHTS_REQUEST_TIMEOUT_MS`.
        limit: std::time::Duration,
    },
    /// 503: a heavy request could not get a compute slot in time; the client may retry.
    Overloaded(crate::admission::Refused),
    /// 503 from `/readyz`: these stores cannot answer now. The detail names them, as the
    /// operator of a load balancer needs to know which; the causes are for the log only.
    NotReady {
        /// The stores that cannot answer, such as `metadata store`.
        stores: Vec<&'static str>,
        /// Each store's error.
        cause: String,
    },
    /// 503: a dependency is unreachable; the client may retry.
    Unavailable {
        /// The cause, for the log only.
        cause: String,
    },
    /// 500: a handler's work panicked. The panic hook has logged it, once, with its message
    /// and location; this only answers.
    Panicked,
    /// 500: an unexpected failure.
    Internal {
        /// The cause, for the log only.
        cause: String,
    },
}

impl ApiError {
    /// A 400 naming one parameter.
    pub fn invalid_param(name: impl Into<String>, reason: impl Into<String>) -> ApiError {
        ApiError::InvalidParam(InvalidParam {
            name: name.into(),
            reason: reason.into(),
        })
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ApiError::InvalidParam(param) => f.write_str(&param.reason),
            ApiError::Unauthorized(detail) | ApiError::Forbidden(detail) => f.write_str(detail),
            ApiError::NotFound(detail) => f.write_str(detail),
            ApiError::EncodedPath => f.write_str(
                "the path percent-escapes letters, digits or -._~, which need no escape; send them as they are",
            ),
            ApiError::QueryTooLong { length, limit } => write!(
                f,
                "the query string is {length} bytes long; the limit is {limit}"
            ),
            ApiError::TimedOut { limit } => write!(
                f,
                "the request was not answered within {} ms",
                limit.as_millis()
            ),
            ApiError::Overloaded(refused) => write!(
                f,
                "a heavy request was refused a compute slot ({})",
                refused.reason.label()
            ),
            ApiError::RateLimited { rate, .. } => write!(
                f,
                "this caller may send {} requests a second, in bursts of up to {}; retry after the Retry-After delay",
                rate.per_second, rate.burst
            ),
            ApiError::Panicked => f.write_str("a handler's work panicked"),
            ApiError::Unavailable { cause } | ApiError::Internal { cause } => f.write_str(cause),
            ApiError::NotReady { cause, .. } => write!(f, "not ready: {cause}"),
        }
    }
}

impl From<InsightsError> for ApiError {
    fn from(error: InsightsError) -> ApiError {
        match error {
            InsightsError::NotFound(entity) => {
                ApiError::NotFound(format!("{entity} does not exist"))
            }
            InsightsError::Metadata(MetadataError::Unavailable { .. })
            | InsightsError::TimeSeries(TimeSeriesError::Unavailable { .. }) => {
                ApiError::Unavailable {
                    cause: error.to_string(),
                }
            }
            InsightsError::Metadata(MetadataError::Inconsistent { .. })
            | InsightsError::TimeSeries(TimeSeriesError::Failed { .. }) => ApiError::Internal {
                cause: error.to_string(),
            },
            InsightsError::TooMuchWork(work) => crate::wording::too_much_work(&work).into(),
        }
    }
}

impl From<crate::dto::UnmatchedId> for ApiError {
    fn from(error: crate::dto::UnmatchedId) -> ApiError {
        ApiError::Internal {
            cause: format!("the answer's pieces do not match by id: {error}"),
        }
    }
}

impl From<crate::wording::Invalid> for ApiError {
    fn from((name, reason): crate::wording::Invalid) -> ApiError {
        ApiError::invalid_param(name, reason)
    }
}

/// The body of an error response.
#[derive(Debug, Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    type_: &'static str,
    title: &'a str,
    status: u16,
    detail: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    invalid_params: Option<[&'a InvalidParam; 1]>,
}

/// Renders a problem body with the canonical title of its status.
pub fn problem_response(
    status: StatusCode,
    detail: &str,
    invalid_param: Option<&InvalidParam>,
) -> HttpResponse {
    let problem = Problem {
        type_: "about:blank",
        title: status.canonical_reason().unwrap_or("Error"),
        status: status.as_u16(),
        detail,
        invalid_params: invalid_param.map(|param| [param]),
    };
    let body = serde_json::to_vec(&problem).unwrap_or_else(|_| b"{}".to_vec());
    let mut response = HttpResponse::build(status);
    response.insert_header((header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON)));
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response.insert_header((header::RETRY_AFTER, RETRY_AFTER_SECONDS));
    }
    if status == StatusCode::UNAUTHORIZED {
        response.insert_header((
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"insights\""),
        ));
    }
    response.body(body)
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::InvalidParam(_) | ApiError::EncodedPath => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::QueryTooLong { .. } => StatusCode::URI_TOO_LONG,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable { .. }
            | ApiError::NotReady { .. }
            | ApiError::TimedOut { .. }
            | ApiError::Overloaded(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal { .. } | ApiError::Panicked => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        match self {
            ApiError::InvalidParam(param) => problem_response(status, &param.reason, Some(param)),
            ApiError::Unauthorized(_)
            | ApiError::EncodedPath
            | ApiError::Forbidden(_)
            | ApiError::NotFound(_)
            | ApiError::QueryTooLong { .. } => problem_response(status, &self.to_string(), None),
            ApiError::RateLimited { rate, retry_after } => {
                let mut response = problem_response(status, &self.to_string(), None);
                let seconds = retry_after.as_secs_f64().ceil().max(1.0) as u64;
                let headers = response.headers_mut();
                headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
                for (name, value) in crate::ratelimit::headers(*rate, 0, seconds) {
                    headers.insert(name, value);
                }
                response
            }
            ApiError::TimedOut { .. } => {
                tracing::warn!(cause = %self, "answering 503");
                problem_response(status, "The request took longer than the service allows; retry after the Retry-After delay.", None)
            }
            ApiError::Overloaded(refused) => {
                tracing::warn!(cause = %self, "answering 503");
                let detail = match refused.reason {
                    Refusal::CallerShare => "This caller already has its share of heavy requests waiting; retry after the Retry-After delay.",
                    Refusal::QueueFull | Refusal::QueueDeadline => "The service is busy with other heavy requests and could not start this one in time; retry after the Retry-After delay.",
                    Refusal::AnswersWaiting => "The service holds as many long answers waiting for their clients to read them as it may; retry after the Retry-After delay.",
                };
                let mut response = problem_response(status, detail, None);
                let seconds = refused.retry_after.as_secs_f64().ceil().max(1.0) as u64;
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
                response
            }
            ApiError::Unavailable { cause } => {
                tracing::warn!(%cause, "answering 503");
                problem_response(status, "A dependency of the service is unavailable; retry after the Retry-After delay.", None)
            }
            ApiError::NotReady { stores, .. } => {
                tracing::warn!(cause = %self, "answering 503");
                let detail = format!(
                    "The {} cannot answer; retry after the Retry-After delay.",
                    stores.join(" and the ")
                );
                problem_response(status, &detail, None)
            }
            ApiError::Internal { cause } => {
                tracing::error!(%cause, "answering 500");
                problem_response(status, "The service failed unexpectedly.", None)
            }
            ApiError::Panicked => {
                problem_response(status, "The service failed unexpectedly.", None)
            }
        }
    }
}

/// The error responses operations can give, with their descriptions.
pub const ERROR_RESPONSES: &[(u16, &str)] = &[
    (
        400,
        "A parameter is missing, malformed, undefined or out of range; `invalid_params` names it.",
    ),
    (
        401,
        "API keys are on and the request has none, or not a valid one (`WWW-Authenticate: Bearer`).",
    ),
    (
        404,
        "No entity has that id, or the API key's scope does not cover it.",
    ),
    (
        414,
        "The query string is longer than the service's limit.",
    ),
    (
        429,
        "The caller's rate limit (per API key, or per client address while keys are off) is spent; `Retry-After` says when to retry, `RateLimit-Policy` and `RateLimit` give the limit.",
    ),
    (
        500,
        "The service failed unexpectedly; the body reveals no internals.",
    ),
    (
        503,
        "A dependency is unreachable, the service is busy with other heavy requests or with long answers its clients have not yet taken, or the request took longer than the service allows; retry after the `Retry-After` delay.",
    ),
];

impl Apiv2Errors for ApiError {
    const ERROR_MAP: &'static [(u16, &'static str)] = ERROR_RESPONSES;

    fn update_error_definitions(op: &mut DefaultOperationRaw) {
        for (status, description) in ERROR_RESPONSES {
            op.responses.insert(
                status.to_string(),
                Either::Right(Response {
                    description: Some((*description).to_owned()),
                    schema: Some(DefaultSchemaRaw {
                        reference: Some("#/definitions/Problem".to_owned()),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
            );
        }
    }

    fn update_definitions(map: &mut BTreeMap<String, DefaultSchemaRaw>) {
        map.insert("Problem".to_owned(), problem_schema());
    }
}

/// The schema of a problem details body (RFC 9457).
pub fn problem_schema() -> DefaultSchemaRaw {
    let string = |description: &str| DefaultSchemaRaw {
        data_type: Some(DataType::String),
        description: Some(description.to_owned()),
        ..Default::default()
    };
    let mut schema = DefaultSchemaRaw {
        data_type: Some(DataType::Object),
        description: Some("RFC 9457 problem details.".to_owned()),
        ..Default::default()
    };
    schema.properties.insert(
        "type".into(),
        Box::new(string(
            "A URI reference for the problem type; `about:blank` here.",
        )),
    );
    schema.properties.insert(
        "title".into(),
        Box::new(string("The status code's reason phrase.")),
    );
    schema.properties.insert(
        "status".into(),
        Box::new(DefaultSchemaRaw {
            data_type: Some(DataType::Integer),
            description: Some("The HTTP status code.".to_owned()),
            ..Default::default()
        }),
    );
    schema.properties.insert(
        "detail".into(),
        Box::new(string("What went wrong; for a 4xx it names the problem.")),
    );
    let mut param = DefaultSchemaRaw {
        data_type: Some(DataType::Object),
        ..Default::default()
    };
    param
        .properties
        .insert("name".into(), Box::new(string("The parameter's name.")));
    param
        .properties
        .insert("reason".into(), Box::new(string("Why it was rejected.")));
    param.required = ["name", "reason"].into_iter().map(String::from).collect();
    schema.properties.insert(
        "invalid_params".into(),
        Box::new(DefaultSchemaRaw {
            data_type: Some(DataType::Array),
            description: Some("Present on 400s: the rejected parameters.".to_owned()),
            items: Some(Box::new(param)),
            ..Default::default()
        }),
    );
    schema.required = ["type", "title", "status", "detail"]
        .into_iter()
        .map(String::from)
        .collect();
    schema
}

impl From<Refused> for ApiError {
    fn from(refused: Refused) -> ApiError {
        ApiError::Overloaded(refused)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dto::{Among, UnmatchedId};
    use insights_core::EntityRef;

    #[test]
    fn an_unmatched_id_is_an_internal_error_that_names_it() {
        let id = EntityRef::Location("3b1ae0b8-1886-476c-9147-18b9d0a4d846".parse().unwrap());
        let error = ApiError::from(UnmatchedId::Missing(Among::ComparedParts, id));
        assert!(
            matches!(&error, ApiError::Internal { cause } if cause.ends_with(
                "the comparison's parts have no entry for location 3b1ae0b8-1886-476c-9147-18b9d0a4d846"
            )),
            "{error:?}"
        );
    }
}
