/// Why `--state-file` could not be read or written, in words.
struct StateFileError: Error, CustomStringConvertible {
    var description: String
}
