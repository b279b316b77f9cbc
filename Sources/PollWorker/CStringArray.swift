import Foundation

/// A NULL-terminated `char *[]` for execve, alive for the duration of `body`.
enum CStringArray {
    static func with<R>(_ strings: [String], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> R) -> R {
        let array = UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>.allocate(capacity: strings.count + 1)
        for (index, string) in strings.enumerated() { array[index] = strdup(string) }
        array[strings.count] = nil
        defer {
            for index in 0..<strings.count { free(array[index]) }
            array.deallocate()
        }
        return body(array)
    }
}
