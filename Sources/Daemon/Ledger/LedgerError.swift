/// Why a ledger operation failed. Messages name the ledger file or the case and say what an
/// operator can do; SQLite errors from GRDB (`DatabaseError`) are wrapped in `database`.
public struct LedgerError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable, Equatable {
        /// No ledger file at the path (read-only opening never creates one).
        case missing
        /// The file is not a brainseg ledger, or its schema is older than this build expects.
        case schema
        /// The case id is not in the ledger.
        case unknownCase
        /// The requested state change is not in `CaseState.successors`.
        case invalidTransition
        /// A value could not be stored (e.g. model-event detail that is not JSON).
        case invalidValue
        /// The ledger was opened read-only and a write was attempted.
        case readOnly
        /// SQLite reported an error (disk full, I/O error, corrupt file, locked too long).
        case database
    }

    public let kind: Kind
    /// The ledger file.
    public let path: String
    public let detail: String
    /// For `.database`: the errno equivalent of SQLite's result (ENOSPC for SQLITE_FULL, EIO for
    /// SQLITE_IOERR, EBUSY for a lock held too long), so retry decisions switch on codes.
    public let errorNumber: Int32?

    public init(_ kind: Kind, path: String, detail: String, errorNumber: Int32? = nil) {
        self.kind = kind
        self.path = path
        self.detail = detail
        self.errorNumber = errorNumber
    }

    public var description: String { "ledger \(path): \(detail)" }
}
