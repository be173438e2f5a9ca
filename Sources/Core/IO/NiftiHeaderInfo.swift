/// What a NIfTI header says about the file itself (as opposed to the grid, which is
/// `VolumeGeometry`): for `brainseg inspect` and for error messages.
public struct NiftiHeaderInfo: Sendable, Equatable, Codable {
    /// 1 or 2.
    public var niftiVersion: Int
    /// Whether the file's byte order differs from this machine's (i.e. big-endian here).
    public var isByteSwapped: Bool
    /// Whether the file is gzip-compressed.
    public var isCompressed: Bool
    /// All sizes declared by the header (1 to 7 values).
    public var dims: [Int]
    /// The stored voxel datatype.
    public var datatype: NiftiDatatype
    /// `scl_slope` as stored; 0 (or non-finite) means no scaling.
    public var scaleSlope: Double
    /// `scl_inter` as stored.
    public var scaleIntercept: Double
    /// Byte offset of the voxel data.
    public var voxelOffset: Int
    /// Number of header extensions between the header and the data.
    public var extensionCount: Int
    /// The `descrip` field.
    public var description: String

    /// Whether `scaleSlope`/`scaleIntercept` change the values (slope 0 means "no scaling").
    public var appliesScaling: Bool {
        scaleSlope != 0 && scaleSlope.isFinite && !(scaleSlope == 1 && scaleIntercept == 0)
    }
}
