import Foundation
import Models

/// Every job the agent holds, from claim until the control plane accepts its
/// result: what may run, in which order per VM, and what is waiting to be reported.
///
/// In memory for now; it is the one place a durable journal and outbox plug in.
public actor JobBook {
    enum Phase: Sendable { case waiting, running, finished }

    struct Entry: Sendable {
        var ref: JobRef
        var vmName: String?
        var phase: Phase
        var leaseExpiresAt: Date?
        var result: JobResult?
    }

    private let maxConcurrent: Int
    private var entries: [JobRef: Entry] = [:]
    /// Held jobs in arrival order (the `held` lists follow it).
    private var order: [JobRef] = []
    /// Results waiting for an `accepted`, in completion order.
    private var outbox: [JobRef] = []
    /// Per-VM arrival order: a job runs only at the head of its VM's queue.
    private var vmQueues: [String: [JobRef]] = [:]
    private var turnWaiters: [JobRef: CheckedContinuation<Void, Never>] = [:]
    /// Results accepted recently, so a re-delivery is answered, not run again.
    private var recentlyAccepted: [JobRef: JobResult] = [:]
    private var recentOrder: [JobRef] = []
    private let recentLimit = 1024
    private var statusCounts: [ResultStatus: Int] = [:]
    private let bells: [Doorbell]

    public init(maxConcurrent: Int, bells: [Doorbell]) {
        self.maxConcurrent = maxConcurrent
        self.bells = bells
    }

    private func ringAll() { for bell in bells { bell.ring() } }

    /// Free slots: the limit minus jobs held and not finished.
    public var capacity: Int {
        max(0, maxConcurrent - entries.values.filter { $0.phase != .finished }.count)
    }

    public var heldRefs: [JobRef] { order }
    public var unfinishedCount: Int { entries.values.filter { $0.phase != .finished }.count }
    public var pendingResultCount: Int { outbox.count }
    public var isIdle: Bool { unfinishedCount == 0 }

    /// How many results of each status this agent produced (for `--drain`'s exit code).
    public var producedStatuses: [ResultStatus: Int] { statusCounts }

    /// Takes a claim reply's jobs: rejections become results at once, duplicates of
    /// a held or recently accepted (id, attempt) are not run again, the rest are
    /// returned to be run.
    public func admit(_ decodings: [JobDecoding], now: Date) -> [Job] {
        var toRun: [Job] = []
        for decoding in decodings {
            switch decoding {
            case .invalid(let rejection):
                guard let result = JobResult.rejected(rejection, at: now), !isDuplicate(result.ref) else { continue }
                holdFinished(result)
                statusCounts[.rejected, default: 0] += 1
            case .valid(let job):
                if isDuplicate(job.ref) { continue }
                entries[job.ref] = Entry(
                    ref: job.ref, vmName: job.parameters.vmName, phase: .waiting, leaseExpiresAt: job.leaseExpiresAt)
                order.append(job.ref)
                if let vm = job.parameters.vmName { vmQueues[vm, default: []].append(job.ref) }
                toRun.append(job)
            }
        }
        ringAll()
        return toRun
    }

    /// Whether (id, attempt) is already held, or was accepted recently; an accepted
    /// one's stored result is held again, so the control plane hears it once more.
    private func isDuplicate(_ ref: JobRef) -> Bool {
        if entries[ref] != nil { return true }
        guard let accepted = recentlyAccepted[ref] else { return false }
        holdFinished(accepted)
        return true
    }

    /// Holds a result that needs no run: it waits in the outbox for an `accepted`.
    private func holdFinished(_ result: JobResult) {
        entries[result.ref] = Entry(ref: result.ref, vmName: nil, phase: .finished, result: result)
        order.append(result.ref)
        outbox.append(result.ref)
    }

    /// Returns when the job may run: at once for VM-less jobs, else when it heads its VM's queue.
    public func waitTurn(_ ref: JobRef) async {
        if let vm = entries[ref]?.vmName, vmQueues[vm]?.first != ref {
            await withCheckedContinuation { turnWaiters[ref] = $0 }
        }
        entries[ref]?.phase = .running
    }

    /// Records a finished job's result for delivery and lets the next job on its VM run.
    public func finish(_ result: JobResult) {
        let ref = result.ref
        guard var entry = entries[ref] else { return }
        entry.phase = .finished
        entry.result = result
        entries[ref] = entry
        outbox.append(ref)
        statusCounts[result.status, default: 0] += 1
        if let vm = entry.vmName, var queue = vmQueues[vm] {
            queue.removeAll { $0 == ref }
            vmQueues[vm] = queue.isEmpty ? nil : queue
            if let next = queue.first, let waiter = turnWaiters.removeValue(forKey: next) {
                waiter.resume()
            }
        }
        ringAll()
    }

    /// Results to send, oldest first.
    public func pendingResults(limit: Int) -> [JobResult] {
        outbox.prefix(limit).compactMap { entries[$0]?.result }
    }

    /// Forgets the results the control plane accepted: they are no longer held.
    public func accepted(_ jobIDs: [String]) {
        guard !jobIDs.isEmpty else { return }
        let ids = Set(jobIDs)
        let done = outbox.filter { ids.contains($0.jobId) }
        for ref in done {
            if let result = entries[ref]?.result {
                // Listed once, however often it is accepted, so trimming the list
                // never forgets a result that was accepted again recently.
                if recentlyAccepted.updateValue(result, forKey: ref) == nil { recentOrder.append(ref) }
            }
            entries[ref] = nil
        }
        outbox.removeAll { ids.contains($0.jobId) }
        order.removeAll { entries[$0] == nil }
        while recentOrder.count > recentLimit {
            recentlyAccepted[recentOrder.removeFirst()] = nil
        }
        ringAll()
    }

    /// Records renewed leases from a report reply.
    public func renew(_ leases: [ReportReply.Lease]) {
        for lease in leases {
            for ref in order where ref.jobId == lease.jobId {
                entries[ref]?.leaseExpiresAt = lease.leaseExpiresAt
            }
        }
    }

    /// The earliest lease among jobs still running or waiting.
    public var earliestLease: Date? {
        entries.values.filter { $0.phase != .finished }.compactMap(\.leaseExpiresAt).min()
    }
}
