import GRDB

/// The ledger's tables, created and upgraded by explicit migrations. A migration, once
/// shipped, is never edited: schema changes are new migrations appended to `migrator`.
///
/// Tables (timestamps are UTC text `YYYY-MM-DD HH:MM:SS.SSS`, GRDB's `Date` storage; JSON
/// columns hold compact, key-sorted JSON text):
/// - `cases`: one row per dropped case (`id`, `case_name`, `content_hash`, `state`, `attempts`,
///   `created_at`, `updated_at`, `last_error`, `input_files` JSON array, `duplicate_of`,
///   `outputs`, `model_versions`, `timings`, `volumes`, `dice` JSON objects).
/// - `transitions`: every state change (`case_id`, `from_state` (NULL at creation), `to_state`,
///   `at`, `detail`).
/// - `attempts`: one row per entry into `processing` (`case_id`, `number`, `started_at`,
///   `ended_at`, `outcome`, `error`); an attempt without `ended_at` was cut off by a crash or
///   is running.
/// - `model_events`: model installs, retrain runs, promotions, rollbacks (`name`, `version`,
///   `kind`, `at`, `detail` JSON).
/// - `interruptions` (v2): one row per attempt that ended with the daemon's death (`case_id`,
///   `attempt`, `cause` = `crashed` (a fatal signal the crash note recorded) or `unexplained`
///   (SIGKILL, power loss, out-of-memory kill), `signal`, `stage`, `at`); unique per attempt.
/// - `stuck_cases` (v2): drop-folder entries the daemon cannot claim (`name` primary key,
///   `reason`, `first_seen`, `last_tried`, `tries`); removed when the entry goes or is claimed.
enum LedgerSchema {
    /// The migration every reader requires.
    static let baseMigration = "v1-cases-transitions-attempts-model-events"

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration(baseMigration) { db in
            try db.create(table: "cases") { table in
                table.autoIncrementedPrimaryKey("id")
                table.column("case_name", .text).notNull()
                table.column("content_hash", .text).notNull()
                table.column("state", .text).notNull()
                table.column("attempts", .integer).notNull().defaults(to: 0)
                table.column("created_at", .datetime).notNull()
                table.column("updated_at", .datetime).notNull()
                table.column("last_error", .text)
                table.column("input_files", .text).notNull().defaults(to: "[]")
                table.column("duplicate_of", .integer).references("cases")
                table.column("outputs", .text).notNull().defaults(to: "{}")
                table.column("model_versions", .text).notNull().defaults(to: "{}")
                table.column("timings", .text).notNull().defaults(to: "{}")
                table.column("volumes", .text).notNull().defaults(to: "{}")
                table.column("dice", .text)
            }
            try db.create(index: "cases_by_hash_and_state", on: "cases", columns: ["content_hash", "state"])
            try db.create(index: "cases_by_name", on: "cases", columns: ["case_name"])
            try db.create(index: "cases_by_state", on: "cases", columns: ["state", "updated_at"])
            try db.create(index: "cases_by_update", on: "cases", columns: ["updated_at"])

            try db.create(table: "transitions") { table in
                table.autoIncrementedPrimaryKey("id")
                table.column("case_id", .integer).notNull().references("cases", onDelete: .cascade)
                table.column("from_state", .text)
                table.column("to_state", .text).notNull()
                table.column("at", .datetime).notNull()
                table.column("detail", .text)
            }
            try db.create(index: "transitions_by_case", on: "transitions", columns: ["case_id", "id"])

            try db.create(table: "attempts") { table in
                table.autoIncrementedPrimaryKey("id")
                table.column("case_id", .integer).notNull().references("cases", onDelete: .cascade)
                table.column("number", .integer).notNull()
                table.column("started_at", .datetime).notNull()
                table.column("ended_at", .datetime)
                table.column("outcome", .text)
                table.column("error", .text)
            }
            try db.create(index: "attempts_by_case", on: "attempts", columns: ["case_id", "number"])

            try db.create(table: "model_events") { table in
                table.autoIncrementedPrimaryKey("id")
                table.column("name", .text).notNull()
                table.column("version", .text).notNull()
                table.column("kind", .text).notNull()
                table.column("at", .datetime).notNull()
                table.column("detail", .text)
            }
            try db.create(index: "model_events_by_kind", on: "model_events", columns: ["kind", "at"])
        }
        migrator.registerMigration(interruptionsMigration) { db in
            try db.create(table: "interruptions") { table in
                table.autoIncrementedPrimaryKey("id")
                table.column("case_id", .integer).notNull().references("cases", onDelete: .cascade)
                table.column("attempt", .integer).notNull()
                table.column("cause", .text).notNull()
                table.column("signal", .integer)
                table.column("stage", .text)
                table.column("at", .datetime).notNull()
                table.uniqueKey(["case_id", "attempt"])
            }
            try db.create(table: "stuck_cases") { table in
                table.primaryKey("name", .text)
                table.column("reason", .text).notNull()
                table.column("first_seen", .datetime).notNull()
                table.column("last_tried", .datetime).notNull()
                table.column("tries", .integer).notNull().defaults(to: 1)
            }
        }
        return migrator
    }

    /// Crash accounting per attempt and the stuck-case list (issue #13).
    static let interruptionsMigration = "v2-interruptions-stuck-cases"
}
