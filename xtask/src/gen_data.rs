//! `cargo xtask gen-data`: the deterministic, seeded generator of the shipped time series.

use std::io::{self, Write};

use insights_core::{format_utc, Catalogue, ElectricSensor, Location, LocationId, SensorId};
use time::{Duration, OffsetDateTime};

/// The first instant of the shipped data: 2024-04-01T00:00:00Z.
pub const SHIPPED_START: OffsetDateTime = time::macros::datetime!(2024-04-01 00:00 UTC);

/// One day of minutes.
pub const MINUTES_PER_DAY: i64 = 24 * 60;

/// The seed that makes the shipped data reproducible.
pub const SHIPPED_SEED: u64 = 0x1A51_6475;

/// SplitMix64: a tiny, well-studied generator; plenty for synthetic load shapes and
/// stable across platforms, which a dependency's default generator need not be.
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A float in `[0, 1)`.
    pub fn next_unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// FNV-1a, to derive a per-series seed from its duid and circuit number.
fn series_seed(seed: u64, duid: &str, circuit_number: u32) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325u64 ^ seed;
    for byte in duid.bytes().chain(circuit_number.to_le_bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// The kind of load a circuit carries, which sets its daily shape.
#[derive(Clone, Copy)]
enum Load {
    /// Heating and cooling: a base plus a broad afternoon peak, with compressor noise.
    Hvac,
    /// Lights and signage: on during opening hours, a low night level.
    Lighting,
    /// Refrigeration: near-constant, with compressor duty cycles.
    Refrigeration,
}

/// The time-series rows for one series over `minutes` minutes from `start`, as watts.
fn series_watts(
    rng: &mut SplitMix64,
    load: Load,
    utc_offset_hours: i64,
    minutes: i64,
    start: OffsetDateTime,
) -> Vec<i64> {
    let scale = 0.8 + 0.4 * rng.next_unit();
    let mut cycle_phase = rng.next_unit() * 40.0;
    let mut watts = Vec::with_capacity(minutes as usize);
    for minute in 0..minutes {
        let instant = start + Duration::minutes(minute);
        let local_minute =
            (i64::from(instant.hour()) * 60 + i64::from(instant.minute()) + utc_offset_hours * 60)
                .rem_euclid(MINUTES_PER_DAY);
        let hour = local_minute as f64 / 60.0;
        let noise = rng.next_unit() - 0.5;
        let value = match load {
            Load::Hvac => {
                let afternoon = (-((hour - 15.0) / 4.0).powi(2)).exp();
                let open = if (7.0..22.0).contains(&hour) {
                    1.0
                } else {
                    0.35
                };
                scale * (900.0 + 2600.0 * afternoon * open + 400.0 * open + 150.0 * noise)
            }
            Load::Lighting => {
                let ramp = ((hour - 5.5).clamp(0.0, 1.0)).min((23.0 - hour).clamp(0.0, 1.0));
                scale * (120.0 + 1380.0 * ramp + 40.0 * noise)
            }
            Load::Refrigeration => {
                cycle_phase = (cycle_phase + 1.0) % 40.0;
                let compressor_on = cycle_phase < 24.0;
                scale * (if compressor_on { 1650.0 } else { 380.0 } + 60.0 * noise)
            }
        };
        watts.push(value.round().max(0.0) as i64);
    }
    watts
}

/// A rough local offset per location, from its name, so that load peaks move with the sun.
fn utc_offset_hours(location_name: &str) -> i64 {
    match location_name.split(['‑', '-']).next() {
        Some("East") => -4,
        Some("Central") => -5,
        Some("West") => -7,
        _ => 0,
    }
}

/// Writes the sample file for every circuit of `catalogue`, `days` days from `start`.
pub fn write_samples(
    out: &mut impl Write,
    catalogue: &Catalogue,
    seed: u64,
    start: OffsetDateTime,
    days: i64,
    progress: &indicatif::ProgressBar,
) -> io::Result<()> {
    let minutes = days * MINUTES_PER_DAY;
    let timestamps: Vec<String> = (0..minutes)
        .map(|minute| format_utc(start + Duration::minutes(minute)))
        .collect();
    let sensors: std::collections::HashMap<SensorId, &ElectricSensor> = catalogue
        .sensors
        .iter()
        .map(|sensor| (sensor.id, sensor))
        .collect();
    let locations: std::collections::HashMap<LocationId, &Location> = catalogue
        .locations
        .iter()
        .map(|location| (location.id, location))
        .collect();
    out.write_all(b"[")?;
    let mut first = true;
    for circuit in &catalogue.circuits {
        let sensor = sensors[&circuit.sensor_id];
        let location = locations[&sensor.location_id];
        let load = match circuit.circuit_number % 3 {
            1 => Load::Hvac,
            2 => Load::Lighting,
            _ => Load::Refrigeration,
        };
        let mut rng = SplitMix64::new(series_seed(
            seed,
            sensor.duid.as_str(),
            circuit.circuit_number,
        ));
        let watts = series_watts(
            &mut rng,
            load,
            utc_offset_hours(&location.name),
            minutes,
            start,
        );
        for (timestamp, watts) in timestamps.iter().zip(watts) {
            out.write_all(if first { b"\n" } else { b",\n" })?;
            first = false;
            write!(
                out,
                r#"{{"duid":"{}","circuit_number":{},"timestamp":"{timestamp}","power_watts":{watts}}}"#,
                sensor.duid, circuit.circuit_number
            )?;
        }
        progress.inc(minutes.unsigned_abs());
    }
    out.write_all(b"\n]\n")
}

/// The samples for `catalogue` as one string.
pub fn generate(catalogue: &Catalogue, seed: u64, start: OffsetDateTime, days: i64) -> String {
    let mut out = Vec::new();
    write_samples(
        &mut out,
        catalogue,
        seed,
        start,
        days,
        &indicatif::ProgressBar::hidden(),
    )
    .expect("writing to memory cannot fail");
    String::from_utf8(out).expect("the generator writes UTF-8")
}

/// The shipped file: every minute of 2024-04-01 UTC for every seeded circuit.
pub fn shipped() -> String {
    generate(&Catalogue::seed(), SHIPPED_SEED, SHIPPED_START, 1)
}
