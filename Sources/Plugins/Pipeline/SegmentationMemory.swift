import Core

/// The memory that segmenting one case will take, estimated before any network runs.
///
/// A case too large for the machine must fail at once with a clear error. Left to run, it is
/// killed by the out-of-memory killer, which the daemon can only see as an unexplained death,
/// repeated on every retry. The reader's limits (512³ voxels per file, a 400 mm field of view)
/// still allow a 512³ volume that is non-zero everywhere (a head that was not skull-stripped, at
/// 0.78 mm). That case peaked at 13.1 GiB, above the unit's `MemoryMax=12G`.
///
/// The estimate follows what `CaseSegmenter` and `CaseProcessor` hold at their peak:
/// - per voxel of the case (`caseVoxels`): the four modalities as Float (16 bytes), the label
///   map, the mask written and the pool's probability bytes (3): **19 bytes**;
/// - per voxel of the brain crop (`cropVoxels`, the non-zero bounding box): the four cropped
///   modalities (16), one model's normalised input before resampling (16 + 4), the ensemble's
///   region probabilities (12) and the crop's labels (1): **49 bytes**, plus **12 bytes per
///   model** whose region probabilities are kept for the agreement;
/// - `fixedBytes` for the models, the runtime and the networks' activations (bounded by
///   sliding-window inference on the working grid).
///
/// Measured against it (`brainseg segment`, four models, peak RSS from `/usr/bin/time`, one
/// thread, 2026-12-07):
///
/// | case | peak | estimate |
/// |---|---|---|
/// | a BraTS case, 240×240×155 (non-zero block 3.3 M voxels) | 1.0 GiB | 1.45 GiB |
/// | a brain resampled into 512³ at 0.75 mm (26 M) | 5.7 GiB | 5.74 GiB |
/// | a brain resampled into 1024×1024×128 (49 M) | 7.0 GiB | 7.8 GiB |
/// | 512³ non-zero everywhere (134 M) | 13.1 GiB | 15.5 GiB |
///
/// It is at or above the peak in each, so the budget needs no extra margin of its own.
public struct SegmentationMemory: Sendable, Equatable {
    public var caseVoxels: Int
    public var cropVoxels: Int
    /// Models whose region probabilities are held at once (ensemble members, plus a student
    /// run alongside).
    public var models: Int
    /// The case's dims and its non-zero block's size (x, y, z), for messages.
    public var dims: [Int] = []
    public var cropSize: [Int] = []

    public static let bytesPerCaseVoxel = 19
    public static let bytesPerCropVoxel = 49
    public static let bytesPerCropVoxelAndModel = 12
    public static let fixedBytes = 1 << 30

    public init(caseVoxels: Int, cropVoxels: Int, models: Int) {
        self.caseVoxels = caseVoxels
        self.cropVoxels = cropVoxels
        self.models = models
    }

    public var estimatedBytes: Int {
        Self.bytesPerCaseVoxel * caseVoxels + (Self.bytesPerCropVoxel + Self.bytesPerCropVoxelAndModel * models) * cropVoxels + Self.fixedBytes
    }
}

/// A case whose estimated segmentation memory (`SegmentationMemory`) is above the budget
/// (`SegmentationOptions.memoryBudgetBytes`, `[models] max_memory_gb`). Permanent: the same
/// case needs the same memory next time.
public struct CaseTooLargeForMemory: Error, CustomStringConvertible, Sendable {
    public var estimate: SegmentationMemory
    public var budgetBytes: Int

    public var description: String {
        let gigabytes = { (bytes: Int) in String(format: "%.1f GiB", Double(bytes) / Double(1 << 30)) }
        return "segmenting this case would take about \(gigabytes(estimate.estimatedBytes)) of memory, more than the "
            + "\(gigabytes(budgetBytes)) allowed ([models] max_memory_gb): \(estimate.dims.map(String.init).joined(separator: "×")) voxels, "
            + "of which a non-zero block of \(estimate.cropSize.map(String.init).joined(separator: "×")) is segmented by \(estimate.models) model(s). "
            + "Send skull-stripped images (only the brain non-zero), or raise the budget on a machine with more memory"
    }
}
