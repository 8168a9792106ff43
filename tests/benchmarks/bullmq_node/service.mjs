// The peer of tests/benchmarks/http_intake.py: an Express + BullMQ service shaped like the one the
// seeds describe. POST /api/schedule-sms and /api/schedule-email check the required fields, add
// one job to the send queue (delay 0) or the scheduled queue (a delay), and answer
// {success, jobId}; POST /api/schedule-sms/bulk adds its messages with one addBulk. No
// authentication, idempotency or per-field validation: the seeds' service had none, and the figure
// is what a CRM moving from it would compare with.
// Usage: node service.mjs <port> <redis url>   (listens on 127.0.0.1 only)
import express from "express";
import { Queue } from "bullmq";

const [port, redisUrl] = process.argv.slice(2);
const url = new URL(redisUrl);
const connection = { host: url.hostname, port: Number(url.port), maxRetriesPerRequest: null };
const queues = {
  sms: new Queue("send-sms-queue", { connection }),
  scheduledSms: new Queue("scheduled-sms-queue", { connection }),
  email: new Queue("send-email-queue", { connection }),
  scheduledEmail: new Queue("scheduled-email-queue", { connection }),
};
const options = (delay) => ({ delay, removeOnComplete: true, attempts: 3, backoff: { type: "exponential", delay: 1000 } });

const app = express();
app.use(express.json({ limit: "10mb" }));

const schedule = (channel, required) => async (req, res) => {
  const body = req.body ?? {};
  const missing = required.filter((field) => !body[field]);
  if (missing.length) return res.status(400).json({ success: false, error: `missing ${missing.join(", ")}` });
  const delay = Number(body.delay ?? 0);
  const queue = delay > 0 ? queues[`scheduled${channel}`] : queues[channel.toLowerCase()];
  try {
    const job = await queue.add(`send-${channel.toLowerCase()}`, body, options(delay));
    res.json({ success: true, jobId: job.id });
  } catch (error) {
    res.status(500).json({ success: false, error: String(error) });
  }
};

app.post("/api/schedule-sms", schedule("Sms", ["phoneNumber", "message", "workspaceId"]));
app.post("/api/schedule-email", schedule("Email", ["to", "subject", "html", "workspaceId"]));
app.post("/api/schedule-sms/bulk", async (req, res) => {
  const messages = req.body?.messages ?? [];
  const jobs = messages.map((data) => ({ name: "send-sms", data, opts: options(Number(data.delay ?? 0)) }));
  const added = await queues.sms.addBulk(jobs);
  res.json({ success: true, results: added.map((job) => ({ success: true, jobId: job.id })) });
});
app.get("/health", (req, res) => res.json({ ok: true }));

app.listen(Number(port), "127.0.0.1");
