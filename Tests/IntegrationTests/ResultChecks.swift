import Foundation
import Testing

/// A result's `error.code`, from the reference control plane's JSON.
func errorCode(_ result: [String: Any]) -> String? {
    (result["error"] as? [String: Any])?["code"] as? String
}

/// A result's `error.message`, empty when there is none.
func errorMessage(_ result: [String: Any]) -> String {
    (result["error"] as? [String: Any])?["message"] as? String ?? ""
}

func fileExists(_ path: String) -> Bool {
    FileManager.default.fileExists(atPath: path)
}

/// Expects a result with `status` and error `code` whose message holds every fragment.
func expectRefused(
    _ result: [String: Any], status: String, code: String, _ fragments: [String],
    sourceLocation: SourceLocation = #_sourceLocation
) {
    #expect(result["status"] as? String == status, "\(result)", sourceLocation: sourceLocation)
    #expect(errorCode(result) == code, "\(result)", sourceLocation: sourceLocation)
    for fragment in fragments {
        #expect(
            errorMessage(result).contains(fragment), "the message should say \(fragment): \(result)",
            sourceLocation: sourceLocation)
    }
}
