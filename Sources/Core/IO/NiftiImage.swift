/// A NIfTI image of any rank (1–7) converted to Float32: header facts, the 3D geometry of
/// its first three axes, and the voxels (x fastest, then y, z, t, …). Scaling is applied.
///
/// Most code wants a `Volume` (exactly 3D); this type exists for `brainseg inspect`, which
/// also describes 4D files.
public struct NiftiImage: Sendable {
    /// The path the image was read from.
    public var path: String
    public var header: NiftiHeaderInfo
    public var geometry: VolumeGeometry
    public var voxels: [Float]

    /// Whether all sizes beyond the third are 1.
    public var isThreeDimensional: Bool {
        header.dims.dropFirst(3).allSatisfy { $0 == 1 }
    }
}
