import Foundation
import Models

/// What fault rules look at in one agent request: the call, the body's size and, for
/// a report, the job ids its results name.
struct FaultProbe: Sendable {
    /// `register`, `claim` or `report`.
    var call: String
    var bodyBytes: Int
    /// `results[].jobId` of a report body; empty unless asked for, or when the body is not JSON.
    var resultJobIds: Set<String> = []

    /// Reads the result job ids only when `inspectResults` (a rule has a `jobId` condition),
    /// so that a large report is not parsed twice for nothing.
    init(call: String, body: Data, inspectResults: Bool) {
        self.call = call
        bodyBytes = body.count
        guard inspectResults, let value = try? WireJSON.decoder().decode(JSONValue.self, from: body),
            case .array(let results)? = value["results"]
        else { return }
        for result in results {
            if case .string(let jobId)? = result["jobId"] { resultJobIds.insert(jobId) }
        }
    }
}
