// BullMQ (Node) side of tests/benchmarks/run.py: one scenario per run, figures printed as JSON.
// Usage: node bench.mjs '{"scenario": "...", "redisUrl": "redis://...", ...params}'
// BullMQ is used as its documentation shows: Queue.add / addBulk, a Worker with a no-op async
// processor, its worker limiter for rate limits; options at their defaults unless a scenario
// needs one. Nothing here tunes the peer down.
import { readFileSync } from "node:fs";
import { Queue, Worker } from "bullmq";
import IORedis from "ioredis";

const args = JSON.parse(process.argv[2]);
const TEXT = "Your appointment is tomorrow at 09:30. Reply STOP to opt out. Thanks!";
const url = new URL(args.redisUrl);
const connection = { host: url.hostname, port: Number(url.port), maxRetriesPerRequest: null };
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const data = (i, workspaceId) => ({
  phoneNumber: `+1415555${String(i % 10000).padStart(4, "0")}`, message: TEXT, workspaceId,
});
// The job data of tests/benchmarks/common.py's crm_sms, crm_email and campaign_job, the same
// bytes (tests/server/test_benchmark_harness.py compares them).
const NEWSLETTER = readFileSync(new URL("../newsletter.html", import.meta.url), "utf8");
const hex = (n, width) => n.toString(16).padStart(width, "0");
const crmUuid = (n, kind = 8) => `${hex(n, 8)}-0000-4000-${hex(kind, 1)}000-${hex(n, 12)}`;
const crmSms = (i, workspaceId, campaignId) => ({
  phoneNumber: `+1415555${String(i % 10000).padStart(4, "0")}`, message: TEXT,
  contactId: crmUuid(i), workspaceId, metadata: { source: "campaign", campaignId },
});
const crmEmail = (i, workspaceId, campaignId) => {
  const contact = crmUuid(i);
  const name = `Contact ${String(i % 10000000).padStart(7, "0")}`;
  return {
    to: `contact-${String(i).padStart(7, "0")}@example.com`, subject: "Your December newsletter",
    html: NEWSLETTER.replaceAll("{{name}}", name).replaceAll("{{contact}}", contact),
    contactId: contact, workspaceId, metadata: { source: "campaign", campaignId },
  };
};
const campaignJob = (channel, i) =>
  (channel === "sms" ? crmSms : crmEmail)(i, `workspace-${100 + (i % 20)}`, crmUuid(i % 20, 9));
const percentile = (values, q) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(Math.floor(sorted.length * q), sorted.length - 1)];
};
const maxPerWindow = (times, windowS) => {
  const sorted = [...times].sort((a, b) => a - b);
  let best = 0, start = 0;
  for (let end = 0; end < sorted.length; end++) {
    while (sorted[end] - sorted[start] >= windowS) start++;
    best = Math.max(best, end - start + 1);
  }
  return best;
};
const addBulk = async (queue, jobs) => {
  for (let start = 0; start < jobs.length; start += 5000) await queue.addBulk(jobs.slice(start, start + 5000));
};
const now = () => Date.now() / 1000;
const rssMb = () => process.memoryUsage().rss / 1024 / 1024;

const scenarios = {
  async intake_single({ seconds, clients }) {
    const latencies = [];
    const deadline = performance.now() + seconds * 1000;
    await Promise.all([...Array(clients).keys()].map(async (index) => {
      const queue = new Queue("sms", { connection });
      while (performance.now() < deadline) {
        const started = performance.now();
        await queue.add("send", data(index, `ws-${index}`));
        latencies.push((performance.now() - started) / 1000);
      }
      await queue.close();
    }));
    return {
      requests_per_s: latencies.length / seconds,
      p50_ms: percentile(latencies, 0.5) * 1000,
      p99_ms: percentile(latencies, 0.99) * 1000,
    };
  },

  async intake_bulk({ messages }) {
    const queue = new Queue("sms", { connection });
    await queue.addBulk([...Array(100).keys()].map((i) => ({ name: "send", data: data(i, "ws-0") })));
    const jobs = [...Array(messages).keys()].map((i) => ({ name: "send", data: data(i, `ws-${i % 5}`) }));
    const started = performance.now();
    await queue.addBulk(jobs);
    const elapsed = (performance.now() - started) / 1000;
    await queue.close();
    return { messages_per_s: messages / elapsed };
  },

  async dispatch_throughput({ messages, concurrency }) {
    const queue = new Queue("sms", { connection });
    await queue.pause();
    await addBulk(queue, [...Array(messages).keys()].map((i) => ({ name: "send", data: data(i, `ws-${i % 20}`) })));
    let completed = 0;
    let last = 0;
    const idleRss = rssMb();
    const worker = new Worker("sms", async () => "ok", { connection, concurrency });
    worker.on("completed", () => { completed++; last = now(); });
    await sleep(1000);
    const started = now();
    await queue.resume();
    let busyRss = 0;
    const deadline = performance.now() + 600_000;
    while (completed < messages && performance.now() < deadline) {
      busyRss = Math.max(busyRss, rssMb());
      await sleep(20);
    }
    await worker.close();
    await queue.close();
    return {
      messages_per_s: completed === messages ? messages / (last - started) : 0,
      worker_idle_rss_mb: idleRss, worker_busy_rss_mb: busyRss,
    };
  },

  async rate_limit({ messages, rate }) {
    const queue = new Queue("sms", { connection });
    await addBulk(queue, [...Array(messages).keys()].map((i) => ({ name: "send", data: data(i, "ws-a") })));
    const times = [];
    const worker = new Worker("sms", async () => { times.push(now()); return "ok"; },
      { connection, concurrency: 50, limiter: { max: rate, duration: 1000 } });
    const deadline = performance.now() + (messages / rate * 2 + 30) * 1000;
    while (times.length < messages && performance.now() < deadline) await sleep(100);
    await worker.close();
    await queue.close();
    const ideal = messages / rate;
    const total = Math.max(...times) - Math.min(...times);
    const complete = times.length >= messages;
    return {
      first_to_last_s: complete ? total : Infinity,
      utilisation_pct: complete ? ideal / total * 100 : 0,
      max_per_1s_window: maxPerWindow(times, 1.0),
      completed: times.length,
    };
  },

  // tests/benchmarks/slow_provider.py: the worker limiter in front of a provider that answers
  // after a latency; each job is POSTed to it (fetch keeps connections alive), as a BullMQ
  // service sends an SMS. The provider's own clock gives the figures; this returns the counts.
  async provider_latency({ messages, rate, concurrency, providerUrl, timeoutS }) {
    const queue = new Queue("sms", { connection });
    await addBulk(queue, [...Array(messages).keys()].map((i) => ({ name: "send", data: data(i, `ws-${i % 3}`) })));
    let completed = 0, failed = 0;
    const worker = new Worker("sms", async (job) => {
      const answer = await fetch(`${providerUrl}/send-sms`, {
        method: "POST",
        headers: { "content-type": "application/json", "idempotency-key": job.id },
        body: JSON.stringify({ to: job.data.phoneNumber, message: job.data.message, workspaceId: job.data.workspaceId }),
      });
      await answer.text();
      if (!answer.ok) throw new Error(`provider answered ${answer.status}`);
      return "ok";
    }, { connection, concurrency, limiter: { max: rate, duration: 1000 } });
    worker.on("completed", () => { completed++; });
    worker.on("failed", () => { failed++; });
    const deadline = performance.now() + timeoutS * 1000;
    while (completed + failed < messages && performance.now() < deadline) await sleep(100);
    await worker.close();
    await queue.close();
    return { completed, failed };
  },

  async lateness({ messages, spread_s }) {
    const queue = new Queue("sms", { connection });
    const late = [];
    const worker = new Worker("sms", async (job) => {
      late.push(now() - (job.timestamp + (job.opts.delay || 0)) / 1000);
      return "ok";
    }, { connection, concurrency: 50 });
    await sleep(1000);
    await addBulk(queue, [...Array(messages).keys()].map((i) => ({
      name: "send", data: data(i, `ws-${i % 4}`),
      opts: { delay: 2000 + Math.floor(i * spread_s * 1000 / messages) },
    })));
    const deadline = performance.now() + (spread_s + 60) * 1000;
    while (late.length < messages && performance.now() < deadline) await sleep(100);
    await worker.close();
    await queue.close();
    return { p50_ms: percentile(late, 0.5) * 1000, p99_ms: percentile(late, 0.99) * 1000, max_ms: Math.max(...late) * 1000 };
  },

  async fairness({ backlog, rate, small, cap_s }) {
    const queue = new Queue("sms", { connection });
    await addBulk(queue, [...Array(backlog).keys()].map((i) => ({ name: "send", data: data(i, "ws-a") })));
    const waits = [];
    const worker = new Worker("sms", async (job) => {
      if (job.data.workspaceId === "ws-b") waits.push(now() - job.timestamp / 1000);
      return "ok";
    }, { connection, concurrency: 50, limiter: { max: rate, duration: 1000 } });
    await sleep(1000);
    await addBulk(queue, [...Array(small).keys()].map((i) => ({ name: "send", data: data(i, "ws-b") })));
    const ahead = (await queue.getJobCounts("wait")).wait - small;
    const deadline = performance.now() + cap_s * 1000;
    while (waits.length < small && performance.now() < deadline) await sleep(100);
    await worker.close();
    await queue.close();
    if (waits.length === small) return { b_wait_p50_s: percentile(waits, 0.5), b_wait_max_s: Math.max(...waits) };
    const implied = ahead / rate + small / rate;
    return { b_wait_p50_s: implied, b_wait_max_s: implied, not_served_within_s: cap_s };
  },

  async memory_per_message({ messages, channel = "sms" }) {
    const client = new IORedis(connection);
    const usedMemory = async () => Number((await client.info("memory")).match(/used_memory:(\d+)/)[1]);
    const queue = new Queue(channel, { connection });
    const warm = { ...campaignJob(channel, 0), workspaceId: "workspace-warm" };
    await queue.addBulk([{ name: "send", data: warm, opts: { delay: 3_600_000 } }]);
    const before = await usedMemory();
    for (let start = 0; start < messages; start += 5000) {
      const end = Math.min(start + 5000, messages);
      await queue.addBulk([...Array(end - start).keys()].map((k) => ({
        name: "send", data: campaignJob(channel, start + k), opts: { delay: 3_600_000 },
      })));
    }
    const after = await usedMemory();
    await queue.close();
    client.disconnect();
    return { bytes_per_message: (after - before) / messages };
  },

  // Not a benchmark: the job data of `indexes`, for the harness test that compares it with
  // Python's (common.campaign_job).
  async job_data({ channel, indexes }) {
    return { jobs: indexes.map((i) => campaignJob(channel, i)) };
  },
};

const figures = await scenarios[args.scenario](args);
// Exit once the line is written: to a pipe, a write of more than 64 KB is finished later.
process.stdout.write(JSON.stringify(figures) + "\n", () => process.exit(0));
