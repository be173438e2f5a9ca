/// A problem with a NIfTI file, phrased for the person who has to fix it.
///
/// Every error names the file and says what was expected and what was found. The `kind`
/// lets callers decide what to do (the daemon treats all of them as "invalid input", a test
/// can check that the right check fired) without parsing the message.
public struct NiftiError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable, Codable {
        /// The path does not exist.
        case fileNotFound
        /// The path exists but is a directory, FIFO, device or socket.
        case notRegularFile
        /// The operating system refused to open or read the file.
        case unreadable
        /// The bytes are not a single-file NIfTI-1 or NIfTI-2 image.
        case notNifti
        /// A valid NIfTI variant this reader deliberately does not handle (.hdr/.img pairs).
        case unsupportedVariant
        /// The gzip stream is corrupt or ends early.
        case corruptCompression
        /// The header declares more voxel data than the file holds.
        case truncatedData
        /// Rank, sizes or geometry in the header are impossible (zero or negative sizes, rank
        /// outside 1…7, voxel sizes that are not positive, transform codes outside NIfTI's 0…5,
        /// affines with NaN).
        case invalidDimensions
        /// A 3D image was required and the file has more (non-singleton) dimensions.
        case notThreeDimensional
        /// A dimension exceeds 1024 voxels or the data exceeds 2³¹ bytes.
        case tooLarge
        /// A datatype that is not a real scalar (complex, RGB, …) or unknown.
        case unsupportedDatatype
        /// Voxels that are NaN or ±Inf after scaling.
        case nonFiniteVoxels
        /// Writing failed: the target is invalid, the disk is full, or the write did not land.
        case writeFailed
        /// The file read back after writing differs from what was meant to be written.
        case verificationFailed
    }

    public let kind: Kind
    /// The file the error is about, as the caller named it.
    public let path: String
    /// What was expected and what was found.
    public let detail: String
    /// The errno of the failed system call, for `.writeFailed` and `.unreadable` errors that
    /// come from one (ENOSPC: disk full), so callers decide on codes, not on message text.
    public let errorNumber: Int32?

    public init(_ kind: Kind, path: String, _ detail: String, errorNumber: Int32? = nil) {
        self.kind = kind
        self.path = path
        self.detail = detail
        self.errorNumber = errorNumber
    }

    public var description: String { "\(path): \(detail)" }
}
