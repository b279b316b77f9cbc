import GRDB

extension Database {
    /// Runs one statement compiled once per connection (GRDB's statement cache): the
    /// journal's hot writes skip SQLite's parser and GRDB's authorizer after the first.
    func executeCached(sql: String, arguments: StatementArguments = StatementArguments()) throws {
        try cachedStatement(sql: sql).execute(arguments: arguments)
    }
}
