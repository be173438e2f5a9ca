import Foundation

/// Publishing a segmented case's results into `output/` failed with an error number: a fault
/// of the storage (read-only file system, lost permissions, `output/` replaced by a file, disk
/// full), not of the case. `RetryPolicy`
/// retries it with the inputs kept, whatever the error number, so a storage fault that an
/// operator repairs within the retries costs no case; `description` says what failed in words.
public struct ResultsStorageError: Error, CustomStringConvertible, Sendable {
    /// The folder the results were going to.
    public let folder: String
    public let code: Int32

    /// `error` as a storage fault when it carries an error number (`RetryPolicy.errorNumber`),
    /// else nil: an error without one (a report that cannot be built, say) is not the storage's.
    public init?(wrapping error: Error, folder: String) {
        guard let code = RetryPolicy.errorNumber(of: error) else { return nil }
        self.folder = folder
        self.code = code
    }

    public var description: String {
        "cannot write the results into \(folder): \(String(cString: strerror(code))) (errno \(code)); "
            + "a storage fault, not the case's; the inputs are kept"
    }
}
