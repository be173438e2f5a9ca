/// A 3D Float32 image with its geometry: one MRI modality, a probability map or a label map
/// held as floats. Voxel order is x fastest: `index = x + nx × (y + ny × z)`.
public struct Volume: Sendable {
    public var geometry: VolumeGeometry
    public var voxels: [Float]

    /// A volume of `geometry.voxelCount` voxels; `voxels` must match that count.
    public init(geometry: VolumeGeometry, voxels: [Float]) {
        precondition(voxels.count == geometry.voxelCount, "voxel count does not match the geometry")
        self.geometry = geometry
        self.voxels = voxels
    }

    /// A volume of zeros.
    public init(geometry: VolumeGeometry) {
        self.init(geometry: geometry, voxels: [Float](repeating: 0, count: geometry.voxelCount))
    }

    /// Reads a 3D NIfTI file (`.nii` or `.nii.gz`, NIfTI-1 or -2). Throws `NiftiError` for
    /// anything that is not a sound, finite 3D image within the size limits.
    public static func read(from path: String, limits: NiftiReader.Limits = .init()) throws -> Volume {
        let image = try NiftiReader.read(from: path, requireThreeDimensional: true, limits: limits)
        return Volume(geometry: image.geometry, voxels: image.voxels)
    }

    public var dims: [Int] { geometry.dims }

    /// The voxel at (x, y, z).
    public subscript(x: Int, y: Int, z: Int) -> Float {
        get { voxels[x + geometry.dims[0] * (y + geometry.dims[1] * z)] }
        set { voxels[x + geometry.dims[0] * (y + geometry.dims[1] * z)] = newValue }
    }
}
