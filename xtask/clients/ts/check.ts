// `cargo xtask client-check`, TypeScript: typed calls through openapi-fetch over the types
// that openapi-typescript generated, with its default settings, from the served
// /openapi.json (schema.d.ts, beside this file when it runs). `tsc --strict` must accept the
// calls and reject each line marked @ts-expect-error (an unused marker is itself an error);
// then node runs the calls against the service: node out/check.js <base url>.
import createClient from "openapi-fetch";
import type { components, paths } from "./schema.js";

type Schemas = components["schemas"];

// The little of node's globals this uses, rather than all of @types/node.
declare const process: { argv: string[]; exit(code: number): never };

const baseUrl = process.argv[2];
if (!baseUrl) {
  throw new Error("usage: node out/check.js <base url>");
}
const client = createClient<paths>({ baseUrl });
const failures: string[] = [];
let calls = 0;

function expect(condition: boolean, what: string): void {
  calls += 1;
  if (!condition) {
    failures.push(what);
  }
}

const circuit = "d36e0c8c-d7d4-5740-88c4-dea626057ff1";
const organization = "955c3c4d-3a03-4d79-9655-3871f5ad999d";
const sensor = "785097c8-2b34-410a-a8ea-bcaf10791c45";
const missing = "00000000-0000-4000-8000-000000000000";

// Zones are strings; bucket widths, demand intervals, formats and comparisons are unions.
const zone: Schemas["TimeZone"] = "America/New_York";
const width: Schemas["BucketWidth"] = "1h";
// @ts-expect-error: 2h is not a bucket width
const noWidth: Schemas["BucketWidth"] = "2h";
void noWidth;

async function main(): Promise<void> {
  const usage = await client.GET("/v1/insights/circuits/{circuit_id}/usage", {
    params: {
      path: { circuit_id: circuit },
      query: {
        start: "2024-04-01T00:00:00Z",
        end: "2024-04-02T00:00:00Z",
        bucket: width,
        tz: zone,
        demand_interval: "15m",
      },
    },
  });
  // A usage answer is JSON, or CSV with `format=csv`: the body's type is the union of both.
  const answer: Schemas["CircuitUsageBody"] | string | undefined = usage.data;
  const body = typeof answer === "object" ? answer : undefined;
  expect(usage.response.status === 200 && body !== undefined, `circuit usage: ${usage.response.status}`);
  if (body) {
    const energy: number = body.usage.energy_wh;
    const samples: number = body.usage.sample_count;
    const buckets: Schemas["Bucket"][] = body.series ?? [];
    const bucketed = buckets.reduce((sum, bucket) => sum + bucket.usage.sample_count, 0);
    expect(energy > 0 && samples > 0, `circuit usage figures: ${energy} Wh, ${samples} samples`);
    expect(buckets.length >= 24 && bucketed === samples, `buckets: ${buckets.length}, ${bucketed} samples`);
    expect(body.usage.peak_demand !== undefined, "peak_demand with demand_interval");
    // @ts-expect-error: a circuit's usage has no top circuits
    void body.top_circuits;
  }

  const org = await client.GET("/v1/insights/organizations/{organization_id}/usage", {
    params: {
      path: { organization_id: organization },
      query: { start: "2024-04-01T00:00:00Z", end: "2024-04-02T00:00:00Z", top: 3 },
    },
  });
  const top: Schemas["TopCircuit"][] =
    typeof org.data === "object" ? (org.data.top_circuits ?? []) : [];
  expect(org.response.status === 200 && top.length === 3, `organization usage: ${org.response.status}, ${top.length} top circuits`);

  const metadata = await client.GET("/v1/electric_sensors/{sensor_id}", {
    params: { path: { sensor_id: sensor } },
  });
  const duid: string | undefined = metadata.data?.duid;
  expect(metadata.response.status === 200 && duid !== undefined, `sensor: ${metadata.response.status}`);

  const ready = await client.GET("/readyz");
  const status: string | undefined = ready.data?.status;
  expect(status === "ready", `readyz: ${ready.response.status}`);

  // Errors are typed problem bodies.
  const absent = await client.GET("/v1/electric_sensors/{sensor_id}", {
    params: { path: { sensor_id: missing } },
  });
  const problem: Schemas["Problem"] | undefined = absent.error;
  expect(absent.response.status === 404 && problem?.status === 404, `a missing sensor: ${absent.response.status}`);

  // A zone the service does not know is a string all the same, refused by the service.
  const unknown = await client.GET("/v1/insights/circuits/{circuit_id}/usage", {
    params: {
      path: { circuit_id: circuit },
      query: { start: "2024-04-01T00:00:00Z", end: "2024-04-02T00:00:00Z", bucket: "1h", tz: "Mars/Olympus_Mons" },
    },
  });
  const rejected: string | undefined = unknown.error?.invalid_params?.[0]?.name;
  expect(unknown.response.status === 400 && rejected === "tz", `an unknown zone: ${unknown.response.status} ${rejected}`);

  // Calls the types refuse: never sent, only type-checked.
  if (failures.length < 0) {
    await client.GET("/v1/insights/circuits/{circuit_id}/usage", {
      params: {
        path: { circuit_id: circuit },
        // @ts-expect-error: `end` is required
        query: { start: "2024-04-01T00:00:00Z" },
      },
    });
    await client.GET("/v1/insights/circuits/{circuit_id}/usage", {
      params: {
        path: { circuit_id: circuit },
        // @ts-expect-error: a zone is a string
        query: { start: "2024-04-01T00:00:00Z", end: "2024-04-02T00:00:00Z", tz: 5 },
      },
    });
    // @ts-expect-error: no such path
    await client.GET("/v1/insights/circuits/{circuit_id}/usages", {
      params: { path: { circuit_id: circuit } },
    });
  }
}

await main();
console.log(`${calls} checks of typed calls`);
if (failures.length > 0) {
  console.log(`FAILED:\n  ${failures.join("\n  ")}`);
  process.exit(1);
}
