/// The answer to `POST /admin/jobs`.
struct EnqueueReply: Encodable {
    let ids: [String]
    /// `CLOCK_REALTIME` in ns when the jobs joined the queue.
    let queuedAtNs: Int64
}
