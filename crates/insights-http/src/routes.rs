//! The API's routes and handlers. Handlers only translate: extractors validate, the core
//! answers, and `dto` shapes the JSON.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpMessage, HttpRequest, HttpResponse};
use insights_core::{EntityRef, EntityUsage, Scope};
use paperclip::actix::api_v2_operation;
use paperclip::actix::web::{self, Json};
use time::OffsetDateTime;
use tokio::time::{timeout_at, Instant};

use crate::answer::Answer;
use crate::auth::{may_read_metrics, Caller};
use crate::caching::{self, Freshness};
use crate::dto::{
    BrandListBody, BrandMetadataBody, BrandUsageBody, CircuitSummaryBody, CircuitUsageBody,
    DataRangeBody, ElectricSensorBody, LocationUsageBody, OrganizationUsageBody, ReplicaBody,
    StatusBody, UnmatchedId,
};
use crate::error::{problem_response, ApiError};
use crate::extract::{
    build_request, BrandParam, CircuitParam, CircuitQuery, IdParam, IdPath, LocationParam, NoQuery,
    OrganizationParam, RollupQuery, SensorParam, UsageQuery,
};
use crate::metrics::WorkClass;
use crate::ratelimit::Subject;
use crate::state::{AppState, NotReady};

/// Registers every documented route.
pub fn configure(config: &mut web::ServiceConfig) {
    // The probes first: the router tries routes in order, and every data route before a
    // static one costs a regular-expression search that fails; a liveness probe under load
    // should not pay for fourteen of them.
    config
        .service(web::resource("/healthz").route(web::get().to(healthz)))
        .service(web::resource("/readyz").route(web::get().to(readyz)));
    register_handlers(config);
}

/// Writes the handlers of the usage, data-range and metadata endpoints, one line each, and
/// registers their routes: paperclip documents one function per operation, so each endpoint
/// is a function of its own, and this writes them all alike. A handler takes the path's id,
/// if it has one, and the query by their extractors (which validate and document them), and
/// answers by its kind: `usage` hands [`usage`] the entity's lookup
/// ([`IdParam::find`]); `range` asks [`range_of`] for the entity, or for every circuit
/// without one; `lookup` looks the entity up (or, without one, lists the brands) within the
/// timeout and converts what it finds into the body. [`usage_endpoints`] lists the usage
/// endpoints, which answer CSV too.
macro_rules! handlers {
    (@answer usage [$param:ident], $state:ident, $caller:ident, $id:ident, $query:ident, $http:ident) => {
        usage::<$param, _, _>(&$state, &$http, $caller.0, $id, $query).await
    };
    (@answer range [], $state:ident, $caller:ident, $id:ident, $query:ident, $http:ident) => {{
        let NoQuery = $query;
        range_of(&$state, &$http, $caller.0, None).await
    }};
    (@answer range [$param:ident], $state:ident, $caller:ident, $id:ident, $query:ident, $http:ident) => {{
        let NoQuery = $query;
        range_of(&$state, &$http, $caller.0, Some($id.into())).await
    }};
    (@answer lookup [], $state:ident, $caller:ident, $id:ident, $query:ident, $http:ident) => {{
        let (NoQuery, _) = ($query, $http);
        let found = within(&$state, $state.insights.visible_brands(&$caller.0)).await?;
        Ok(Json(From::from(&found[..])))
    }};
    (@answer lookup [$param:ident], $state:ident, $caller:ident, $id:ident, $query:ident, $http:ident) => {{
        let (NoQuery, _) = ($query, $http);
        let found = within(&$state, $param::find(&$state.insights, &$caller.0, $id)).await?;
        Ok(Json(From::from(&*found)))
    }};
    (@query) => { NoQuery };
    (@query $query:ty) => { $query };
    (@answer_type) => { Json<DataRangeBody> };
    (@answer_type $answer:ty) => { $answer };
    (@handler $tag:tt, $(#[doc = $doc:tt])*
        $kind:ident $name:ident($($param:ident)? $(, $query:ty)?) $(-> $answer:ty)?:
            $operation_id:tt, $summary:tt, $description:tt
    ) => {
        $(#[doc = $doc])*
        #[api_v2_operation(
            summary = $summary,
            description = $description,
            operation_id = $operation_id,
            tags($tag)
        )]
        async fn $name(
            state: web::Data<AppState>,
            caller: Caller,
            $(id: IdPath<$param>,)?
            query: handlers!(@query $($query)?),
            http: HttpRequest,
        ) -> Result<handlers!(@answer_type $($answer)?), ApiError> {
            $(let id: <$param as IdParam>::Id = id.0;)?
            handlers!(@answer $kind [$($param)?], state, caller, id, query, http)
        }
    };
    // The attribute's tag must be a literal where it stands, so each kind's is passed in.
    (@entry usage $($entry:tt)*) => { handlers!(@handler "Insights", $($entry)*); };
    (@entry range $($entry:tt)*) => { handlers!(@handler "Insights", $($entry)*); };
    (@entry lookup $($entry:tt)*) => { handlers!(@handler "Metadata", $($entry)*); };
    ($(
        $(#[doc = $doc:tt])*
        $kind:ident $name:ident $path:literal ($($params:tt)*) $(-> $answer:ty)?:
            $operation_id:tt, $summary:tt, $description:tt;
    )*) => {
        $(handlers!(@entry $kind $(#[doc = $doc])* $kind $name($($params)*) $(-> $answer)?:
            $operation_id, $summary, $description);)*

        /// Registers the routes of the endpoints [`handlers`] writes.
        fn register_handlers(config: &mut web::ServiceConfig) {
            // Named by operationId, which `answers_csv` goes by.
            $(config.service(web::resource($path).name($operation_id).route(web::get().to($name)));)*
        }

        /// Every endpoint [`handlers`] writes: its kind, path and operationId.
        const ENDPOINTS: &[(&str, &str, &str)] = &[$((stringify!($kind), $path, $operation_id)),*];
    };
}

/// Whether the operation `operation_id` (the name of its route) is a usage endpoint.
pub fn answers_csv(operation_id: &str) -> bool {
    usage_endpoints().any(|(_, usage)| usage == operation_id)
}

/// The usage endpoints, by path and operationId: each answers CSV as well as JSON, varies
/// with `Accept`, and takes `format`, `compare` and `baseload`.
pub fn usage_endpoints() -> impl Iterator<Item = (&'static str, &'static str)> {
    ENDPOINTS
        .iter()
        .filter(|(kind, _, _)| *kind == "usage")
        .map(|&(_, path, operation_id)| (path, operation_id))
}

handlers! {
    /// Usage of one circuit over a window.
    usage circuit_usage "/v1/insights/circuits/{circuit_id}/usage" (CircuitParam, CircuitQuery) -> Answer<CircuitUsageBody>: "getCircuitUsage", "Circuit usage", "Total, count, average, min and max power, energy and coverage of one circuit's samples with `start <= timestamp < end`. A window without samples is not an error: `sample_count` is 0. `bucket` adds `series`; `demand_interval` adds `peak_demand`.";
    /// Usage of a location over a window, by sensor.
    usage location_usage "/v1/insights/locations/{location_id}/usage" (LocationParam, RollupQuery) -> Answer<LocationUsageBody>: "getLocationUsage", "Location usage", "The usage of all the location's circuits, and of each sensor's (by name, then id). `bucket` adds `series`, `demand_interval` adds `peak_demand` to every usage object, and `top` adds `top_circuits`.";
    /// Usage of an organization over a window, by location.
    usage organization_usage "/v1/insights/organizations/{organization_id}/usage" (OrganizationParam, RollupQuery) -> Answer<OrganizationUsageBody>: "getOrganizationUsage", "Organization usage", "The usage of all the organization's circuits, and of each location's (by name, then id). `average_watts_per_circuit` is `usage.total_watts / circuit_count`, null without circuits. `location_count` includes locations without circuits. `bucket` adds `series`, `demand_interval` adds `peak_demand` to every usage object, and `top` adds `top_circuits`.";
    /// Usage of a brand over a window, by organization.
    usage brand_usage "/v1/insights/brands/{brand_id}/usage" (BrandParam, RollupQuery) -> Answer<BrandUsageBody>: "getBrandUsage", "Brand usage", "The usage of all the brand's circuits, and of each organization's (by name, then id). `location_count` counts every location of its organizations. `bucket` adds `series`, `demand_interval` adds `peak_demand` to every usage object, and `top` adds `top_circuits`.";
    /// The data range of every circuit the caller may see.
    range data_range "/v1/insights/data-range" (): "getDataRange", "Data range", "The first and last sample time over every circuit the caller may see, and the shortest nominal interval among them: where a client's default window should end. Read from the source's index, whatever the data's length.";
    /// The data range of one circuit.
    range circuit_data_range "/v1/insights/circuits/{circuit_id}/data-range" (CircuitParam): "getCircuitDataRange", "Circuit data range", "The first and last sample time of the circuit, and its nominal interval; both times are null when it has no samples.";
    /// The data range of an electric sensor's circuits.
    range sensor_data_range "/v1/insights/sensors/{sensor_id}/data-range" (SensorParam): "getSensorDataRange", "Electric sensor data range", "The first and last sample time over all the sensor's circuits, and the shortest nominal interval among them; both times are null when none has samples.";
    /// The data range of a location's circuits.
    range location_data_range "/v1/insights/locations/{location_id}/data-range" (LocationParam): "getLocationDataRange", "Location data range", "The first and last sample time over all the location's circuits, and the shortest nominal interval among them; both times are null when none has samples.";
    /// The data range of an organization's circuits.
    range organization_data_range "/v1/insights/organizations/{organization_id}/data-range" (OrganizationParam): "getOrganizationDataRange", "Organization data range", "The first and last sample time over all the organization's circuits, and the shortest nominal interval among them; both times are null when none has samples.";
    /// The data range of a brand's circuits.
    range brand_data_range "/v1/insights/brands/{brand_id}/data-range" (BrandParam): "getBrandDataRange", "Brand data range", "The first and last sample time over all the brand's circuits, and the shortest nominal interval among them; both times are null when none has samples.";
    /// The brands the caller may see.
    lookup visible_brands "/v1/brands" () -> Json<BrandListBody>: "listBrands", "Brands", "The brands the caller may see, by name then id, each with its organizations the caller may see and their locations (each by name, then id): every brand without keys, the key's brand with a brand key, and the organization's brand with that organization alone with an organization key.";
    /// An electric sensor with its location and circuits.
    lookup electric_sensor "/v1/electric_sensors/{sensor_id}" (SensorParam) -> Json<ElectricSensorBody>: "getElectricSensor", "Electric sensor", "Monolith-compatible: the sensor, its location and its circuits by circuit number.";
    /// A location's sensors and circuits.
    lookup location_summary "/v1/locations/{location_id}/circuit-summary" (LocationParam) -> Json<CircuitSummaryBody>: "getLocationCircuitSummary", "Location circuit summary", "Monolith-compatible: the location, its organization, and its sensors (by name, then id) with their circuits.";
    /// A brand's organizations and locations.
    lookup brand_metadata "/v1/brands/{brand_id}/metadata" (BrandParam) -> Json<BrandMetadataBody>: "getBrandMetadata", "Brand metadata", "Monolith-compatible: the brand's organizations (by name, then id), each with its locations and their sensor and circuit counts.";
}

/// A data range. Its work is one index lookup a series: light below a brand, whose circuits
/// number a few hundred at most; a brand's or the whole fleet's can span every series, so
/// they are admitted as heavy work.
async fn range_of(
    state: &web::Data<AppState>,
    http: &HttpRequest,
    scope: Scope,
    entity: Option<EntityRef>,
) -> Result<Json<DataRangeBody>, ApiError> {
    let class = match entity {
        None | Some(EntityRef::Brand(_)) => WorkClass::Heavy,
        Some(_) => WorkClass::Light,
    };
    let deadline = Instant::now() + state.limits.request_timeout;
    let work = {
        let state = state.clone();
        async move {
            let range = state
                .insights_for_one_answer()
                .data_range(&scope, entity)
                .await?;
            Ok(DataRangeBody::from(&range))
        }
    };
    Ok(Json(admitted(state, http, class, deadline, work).await?))
}

/// How long a usage answer may be cached: settled when the source held a sample of its
/// circuits at or after the end of the window (`end`) when it answered (the use case says so
/// with the figures), so only a late sample can change it, and, with replicas, when the window
/// also ended before every source a read may go to had replayed.
fn freshness(state: &AppState, settled: bool, end: OffsetDateTime) -> Freshness {
    // `settled` was asked of the server the figures came from, just before them. Through
    // replicas, a window that ended within the staleness bound is still live: a margin for
    // a replica that far behind, whose answer the primary may already have outgrown.
    let replayed = state
        .timeseries
        .ops
        .staleness_bound()
        .is_none_or(|bound| end <= OffsetDateTime::now_utc() - bound);
    if settled && replayed {
        Freshness::Settled
    } else {
        Freshness::Live
    }
}

/// Liveness.
#[api_v2_operation(
    summary = "Liveness",
    description = "200 whenever the process serves requests, even while a dependency is down.",
    operation_id = "getHealthz",
    tags("Operations")
)]
async fn healthz(_query: NoQuery) -> Result<Json<StatusBody>, ApiError> {
    Ok(Json(StatusBody {
        status: "ok",
        replicas: None,
    }))
}

/// Readiness.
#[api_v2_operation(
    summary = "Readiness",
    description = "200 when the metadata store and the time-series source both answer (a sample file is ready once loaded); 503 problem+json with `Retry-After` while either cannot, its `detail` naming which.",
    operation_id = "getReadyz",
    tags("Operations")
)]
async fn readyz(state: web::Data<AppState>, _query: NoQuery) -> Result<Json<StatusBody>, ApiError> {
    // Both stores at once. An inconsistent store is not ready either: both are 503 here, not
    // 500.
    let check = async {
        let (metadata, timeseries) = tokio::join!(
            state.metadata.ops.check_ready(),
            state.timeseries.ops.check_ready()
        );
        let failed: Vec<(&'static str, NotReady)> = [
            ("metadata store", metadata),
            ("time-series source", timeseries),
        ]
        .into_iter()
        .filter_map(|(store, result)| result.err().map(|error| (store, error)))
        .collect();
        if failed.is_empty() {
            return Ok(());
        }
        Err(ApiError::NotReady {
            stores: failed.iter().map(|(store, _)| *store).collect(),
            cause: failed
                .iter()
                .map(|(store, error)| format!("{store}: {error}"))
                .collect::<Vec<_>>()
                .join("; "),
        })
    };
    within(&state, check).await?;
    let replicas = state.timeseries.ops.replicas();
    Ok(Json(StatusBody {
        status: "ready",
        replicas: (!replicas.is_empty()).then(|| replicas.iter().map(ReplicaBody::from).collect()),
    }))
}

/// Answers a usage request about the entity `id` names: looks it up (the request's one
/// metadata lookup, which also answers 404 before any slot is taken), sizes the work from its
/// circuits and the request (`INSIGHTS_LIGHT_WORK`), and runs it light or heavy within the
/// request timeout. The request is built where the work runs: building is part of the work (a
/// year of 5-minute intervals takes milliseconds), and a heavy answer is written there too
/// (`answer`). The answer's freshness is marked for `caching` from whether its window was
/// settled.
async fn usage<P, Body, const TOP: bool>(
    state: &web::Data<AppState>,
    http: &HttpRequest,
    scope: Scope,
    id: P::Id,
    query: UsageQuery<TOP>,
) -> Result<Answer<Body>, ApiError>
where
    P: IdParam,
    Body: for<'a> TryFrom<&'a EntityUsage<P::Entity>, Error = UnmatchedId>
        + serde::Serialize
        + Send
        + 'static,
{
    if cfg!(feature = "ceiling") {
        // A benchmark build's usage route: what the route costs before its work
        // (`cargo xtask loadtest --ceiling`).
        caching::mark(http, Freshness::Settled);
        return Ok(Answer::ceiling());
    }
    let (builder, format) = (query.request, query.format);
    let deadline = Instant::now() + state.limits.request_timeout;
    let entity = before(state, deadline, P::find(&state.insights, &scope, id)).await?;
    let cells = builder.work_on(&*entity);
    let class = if cells <= state.limits.light_work {
        WorkClass::Light
    } else {
        WorkClass::Heavy
    };
    let state_for_work = state.clone();
    // Boxed: the use case's future is kilobytes (6,832 bytes inline for a circuit, 984 with
    // it boxed), and inline it is copied at each move through the server's layers of futures.
    let work = Box::pin(async move {
        let request = build_request(builder)?;
        let end = request.window_bounds().end();
        let insights = state_for_work.insights_for_one_answer();
        let answer = insights.usage_of(&scope, entity, &request).await?;
        let (body, settled) = (Body::try_from(&answer)?, answer.rollup.settled);
        let freshness = freshness(&state_for_work, settled, end);
        // Written and tagged here, where the work runs: on the pool for heavy answers.
        let answer = Answer::prepare(&body, format)?.claiming(&state_for_work.admission);
        Ok((answer, freshness))
    });
    let (answer, freshness) = admitted(state, http, class, deadline, work).await?;
    caching::mark(http, freshness);
    Ok(answer)
}

/// Runs `work` by its class, within `deadline`: light work at once, on the worker that read
/// the request; heavy work on the compute pool once `admission` gives it a slot, so the
/// workers that serve connections stay free.
async fn admitted<T, Work>(
    state: &web::Data<AppState>,
    http: &HttpRequest,
    class: WorkClass,
    deadline: Instant,
    work: Work,
) -> Result<T, ApiError>
where
    Work: std::future::Future<Output = Result<T, ApiError>> + Send + 'static,
    T: Send + 'static,
{
    state.metrics.record_class(class);
    if class == WorkClass::Light {
        return before(state, deadline, work).await;
    }
    let caller = http.extensions().get::<Subject>().copied();
    let queued = Instant::now();
    let slot = state.admission.admit(caller, deadline).await?;
    state.metrics.record_queue_wait(queued.elapsed());
    let limit = state.limits.request_timeout;
    state.compute.run(slot, deadline, limit, work).await
}

/// Awaits `work` until `deadline`; a late answer is a 503.
async fn before<T, E: Into<ApiError>>(
    state: &AppState,
    deadline: Instant,
    work: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, ApiError> {
    match timeout_at(deadline, work).await {
        Ok(answer) => answer.map_err(Into::into),
        Err(_) => Err(ApiError::TimedOut {
            limit: state.limits.request_timeout,
        }),
    }
}

/// Runs a light use case (a metadata lookup) within the request timeout; a late answer is a
/// 503.
async fn within<T, E: Into<ApiError>>(
    state: &AppState,
    work: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, ApiError> {
    before(state, Instant::now() + state.limits.request_timeout, work).await
}

/// Prometheus metrics; `docs/operations.md` lists them.
pub async fn metrics(
    state: actix_web::web::Data<AppState>,
    request: HttpRequest,
    _query: NoQuery,
) -> Result<HttpResponse, ApiError> {
    may_read_metrics(
        state.keys.as_ref(),
        state.metrics_require_key,
        request.headers(),
    )?;
    Ok(HttpResponse::Ok()
        .insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        ))
        .body(state.metrics.render(&state.snapshot())))
}

/// The answer for a path no route matches.
pub async fn not_found(request: HttpRequest) -> HttpResponse {
    problem_response(
        StatusCode::NOT_FOUND,
        &format!("no route matches {}", request.path()),
        None,
    )
}

/// Gives a response that has an error status but no problem body one, keeping its headers.
///
/// This covers the framework's own answers, such as 405 for a known path with another method.
pub fn problem_for_bare_error<B>(
    request: &HttpRequest,
    response: &HttpResponse<B>,
) -> Option<HttpResponse> {
    let status = response.status();
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| {
            value
                .as_bytes()
                .starts_with(crate::error::PROBLEM_JSON.as_bytes())
        });
    if !(status.is_client_error() || status.is_server_error()) || is_problem {
        return None;
    }
    let detail = match status {
        StatusCode::METHOD_NOT_ALLOWED => format!(
            "{} is not allowed on {}; use GET or HEAD",
            request.method(),
            request.path()
        ),
        StatusCode::NOT_FOUND => format!("no route matches {}", request.path()),
        _ => status.canonical_reason().unwrap_or("Error").to_owned(),
    };
    let mut problem = problem_response(status, &detail, None);
    if status == StatusCode::METHOD_NOT_ALLOWED {
        problem
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
    }
    Some(problem)
}
