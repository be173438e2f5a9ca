/// A case read into memory and validated: four co-registered 3D volumes in channel order
/// T1, T1ce, T2, FLAIR on one grid, and the expert label map when there is one.
public struct MultimodalCase: Sendable {
    public var files: CaseFiles
    public var modalities: [Volume]
    /// The expert segmentation as label values (0/1/2/4, or 0/1/2/3 in BraTS 2023), same grid.
    public var truth: [UInt8]?

    /// The grid every output is written in.
    public var geometry: VolumeGeometry { modalities[0].geometry }
    public var identifier: String { files.identifier }

    /// Why a case cannot be processed: an invalid file, mismatched geometry, an empty brain.
    public struct ValidationError: Error, Sendable, CustomStringConvertible {
        public let caseIdentifier: String
        public let detail: String
        public var description: String { "case \(caseIdentifier): \(detail)" }
    }

    /// The widest field of view accepted along any axis, in millimetres. A head MRI spans
    /// 180–260 mm (BraTS: 240 mm). The networks run on a grid of fixed spacing (2 mm in the cpu
    /// profile), so the field of view sets their memory. A header that says 20 mm voxels (one
    /// edited field) made the 2 mm grid of a BraTS case 64 GB and aborted the process; at
    /// 400 mm the grid stays under 200³.
    public static let maximumFieldOfViewMillimetres = 400.0

    /// The smallest voxel size accepted along any axis, in millimetres. Human MRI, 7 T included,
    /// stays above 0.1 mm. Headers with 1e-6 mm voxels, or microns where millimetres were meant,
    /// gave an empty mask without a word.
    public static let minimumVoxelSizeMillimetres = 0.05

    /// Reads and validates all files (SPEC.md §1): each a finite 3D NIfTI within the size
    /// limits, a field of view a head can have (`maximumFieldOfViewMillimetres`), the same dims
    /// and affine (to `affineTolerance` mm) across modalities and the segmentation, a non-empty
    /// brain with some contrast in every modality (a constant volume has no foreground
    /// statistics to normalise by, and used to give an empty mask without a word), segmentation
    /// labels within the convention.
    public static func load(_ files: CaseFiles, affineTolerance: Double = 1e-3) throws -> MultimodalCase {
        var volumes: [Volume] = []
        for path in files.modalities {
            volumes.append(try Volume.read(from: path))
            if volumes.count == 1 { try checkFieldOfView(volumes[0].geometry, caseIdentifier: files.identifier) }
        }
        let reference = volumes[0].geometry
        for (modality, volume) in zip(Modality.allCases, volumes).dropFirst() {
            guard volume.dims == reference.dims else {
                throw ValidationError(caseIdentifier: files.identifier,
                                      detail: "\(modality) has shape \(volume.dims.map(String.init).joined(separator: "×")) but T1 has \(reference.dims.map(String.init).joined(separator: "×"))")
            }
            guard volume.geometry.matches(reference, tolerance: affineTolerance) else {
                throw ValidationError(caseIdentifier: files.identifier,
                                      detail: "\(modality) is not co-registered with T1 (affines differ by more than \(affineTolerance) mm)")
            }
        }
        for (modality, volume) in zip(Modality.allCases, volumes) {
            if !volume.voxels.contains(where: { $0 != 0 }) {
                throw ValidationError(caseIdentifier: files.identifier, detail: "\(modality) is empty (all voxels are 0): no brain")
            }
            if IntensityNormalization.foregroundStatistics(volume.voxels) == nil {
                let value = volume.voxels.first { $0 != 0 } ?? 0
                throw ValidationError(caseIdentifier: files.identifier, detail: String(
                    format: "%@ has no contrast: every non-zero voxel holds %g, so there is no image to segment", "\(modality)", Double(value)))
            }
        }
        var truth: [UInt8]?
        if let path = files.segmentation {
            let segmentation = try Volume.read(from: path)
            guard segmentation.dims == reference.dims, segmentation.geometry.matches(reference, tolerance: affineTolerance) else {
                throw ValidationError(caseIdentifier: files.identifier, detail: "the segmentation's grid differs from the images'")
            }
            var labels = [UInt8](repeating: 0, count: segmentation.voxels.count)
            for (index, value) in segmentation.voxels.enumerated() {
                guard value >= 0, value <= 4, value == value.rounded() else {
                    throw ValidationError(caseIdentifier: files.identifier, detail: "the segmentation holds label \(value); expected 0, 1, 2, 3 or 4")
                }
                labels[index] = UInt8(value)
            }
            truth = labels
        }
        return MultimodalCase(files: files, modalities: volumes, truth: truth)
    }

    /// Refuses a grid whose extent (size × voxel size) along some axis exceeds
    /// `maximumFieldOfViewMillimetres`, or whose voxels are smaller than
    /// `minimumVoxelSizeMillimetres`; the other modalities must share this grid, so checking
    /// T1's suffices.
    static func checkFieldOfView(_ geometry: VolumeGeometry, caseIdentifier: String) throws {
        let spacing = geometry.spacingInMillimetres
        let size = geometry.dims.map(String.init).joined(separator: "×")
        let voxel = spacing.map { String(format: "%g", $0) }.joined(separator: "×")
        for axis in 0..<3 {
            let extent = Double(geometry.dims[axis]) * spacing[axis]
            // Float32 voxel sizes: 1000 × 0.4 mm comes out at 400.000006 mm, which is 400.
            if extent > maximumFieldOfViewMillimetres * (1 + 1e-6) {
                throw ValidationError(caseIdentifier: caseIdentifier, detail: String(
                    format: "T1 spans %g mm along axis %d (%@ voxels of %@ mm), more than the %.0f mm a head MRI can; the voxel size in the header is likely wrong",
                    extent, axis + 1, size, voxel, maximumFieldOfViewMillimetres))
            }
            if spacing[axis] < minimumVoxelSizeMillimetres {
                throw ValidationError(caseIdentifier: caseIdentifier, detail: String(
                    format: "T1's voxels are %@ mm (%@ voxels), smaller than the %g mm of any head MRI along axis %d; the voxel size or its unit in the header is likely wrong",
                    voxel, size, minimumVoxelSizeMillimetres, axis + 1))
            }
        }
    }
}
