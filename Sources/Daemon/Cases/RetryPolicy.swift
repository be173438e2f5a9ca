import Core
import Foundation
import GRDB

/// Which failures of an attempt are worth retrying with the inputs kept: a switch on error
/// codes (errno, SQLite result codes), never on message text, and any failure to store the
/// results (`ResultsStorageError`).
public enum RetryPolicy {
    public enum Class: Sendable, Equatable {
        /// The storage's fault, not the case's: disk full, quota, a read-only file system, an
        /// unusable `output/`, a damaged ledger file. Retried until the storage is repaired,
        /// however long that takes, so that no good case is failed for it (`CaseRunner`).
        case storage
        /// I/O error, out of memory, busy: likely to pass later; retried `max_attempts` times.
        case transient
        /// Invalid input or a bug: retrying gives the same result.
        case permanent
    }

    /// errno values of a storage that is full, read-only or damaged (EUCLEAN: a corrupt ledger
    /// file, `LedgerError`): the case stays in `work/` until an operator repairs it.
    static let storageCodes: Set<Int32> = [ENOSPC, EDQUOT, EROFS, EUCLEAN]
    /// errno values that mean "try again later".
    static let transientCodes: Set<Int32> = [EIO, ENOMEM, EAGAIN, EBUSY]

    public static func classify(_ error: Error) -> Class {
        if error is ResultsStorageError { return .storage }
        guard let code = errorNumber(of: error) else { return .permanent }
        if storageCodes.contains(code) { return .storage }
        return transientCodes.contains(code) ? .transient : .permanent
    }

    /// The errno behind `error`, when it carries one.
    static func errorNumber(of error: Error) -> Int32? {
        switch error {
        case let error as CaseFolders.MoveError: return error.code
        case let error as ResultsStorageError: return error.code
        case let error as NiftiError: return error.errorNumber
        case let error as LedgerError: return error.errorNumber
        case let error as POSIXError: return error.code.rawValue
        case let error as CocoaError:
            // Foundation on Linux keeps the underlying error as a Swift `POSIXError`, which
            // does not cast to NSError from `Any`; both forms are read.
            switch error.userInfo[NSUnderlyingErrorKey] {
            case let underlying as POSIXError: return underlying.code.rawValue
            case let underlying as NSError where underlying.domain == NSPOSIXErrorDomain: return Int32(underlying.code)
            default: return error.code == .fileWriteOutOfSpace ? ENOSPC : nil
            }
        default:
            return nil
        }
    }
}
