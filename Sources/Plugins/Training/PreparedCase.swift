import Core
import Foundation

/// A case ready for training one model: the brain crop in the model's working grid,
/// normalised per its plan, with labels resampled to the same grid (nearest neighbour) and,
/// for a case that carries teachers' probabilities (`SoftTargets`), those resampled
/// trilinearly. Cached on disk, keyed by the content hash of the input files and the plan.
public struct PreparedCase: Sendable {
    public var identifier: String
    /// 4×D×H×W (T1, T1ce, T2, FLAIR), D = z.
    public var image: Tensor
    /// D×H×W label values (0, 1, 2, 4), as bytes.
    public var labels: [UInt8]
    /// 3×D×H×W teachers' region probabilities [WT, TC, ET] in [0, 1], when the case has them.
    public var softTargets: Tensor?
    /// (D, H, W).
    public var size: [Int] { Array(image.shape.dropFirst()) }

    /// Prepares a labelled case for `plan` (crop to the brain, normalise, resample); `soft`, the
    /// case's region probabilities on its grid (`SoftTargets.load`), is cropped and resampled too.
    public static func prepare(_ loaded: MultimodalCase, plan: InputPlan, soft: [[Float]]? = nil) -> PreparedCase {
        precondition(loaded.truth != nil, "training needs a labelled case")
        let dims = loaded.geometry.dims
        let box = VoxelBox.nonZero(in: loaded.modalities) ?? VoxelBox(origin: [0, 0, 0], size: dims)
        let size = box.size
        var image = Tensor(uninitializedShape: [1, 4, size[2], size[1], size[0]])
        image.withUnsafeMutableBufferPointer { target in
            for (channel, volume) in loaded.modalities.enumerated() {
                let normalised = plan.normalise(box.crop(volume.voxels, dims: dims))
                normalised.withUnsafeBufferPointer { (target.baseAddress! + channel * box.voxelCount).update(from: $0.baseAddress!, count: box.voxelCount) }
            }
        }
        let working = plan.workingSize(cropSize: size, spacing: loaded.geometry.spacingInMillimetres)
        let resampled = VolumeResampling.trilinear(image, depth: working[2], height: working[1], width: working[0])
        let labels = VolumeResampling.nearest(box.crop(loaded.truth!, dims: dims), dims: size, to: working)
        var softTargets: Tensor?
        if let soft {
            var crops = Tensor(uninitializedShape: [1, 3, size[2], size[1], size[0]])
            crops.withUnsafeMutableBufferPointer { target in
                for (channel, volume) in soft.enumerated() {
                    box.crop(volume, dims: dims).withUnsafeBufferPointer {
                        (target.baseAddress! + channel * box.voxelCount).update(from: $0.baseAddress!, count: box.voxelCount)
                    }
                }
            }
            softTargets = VolumeResampling.trilinear(crops, depth: working[2], height: working[1], width: working[0])
                .reshaped([3, working[2], working[1], working[0]])
        }
        return PreparedCase(identifier: loaded.identifier, image: resampled.reshaped([4, working[2], working[1], working[0]]),
                            labels: labels, softTargets: softTargets)
    }

    /// The soft-target files of `files` when they are wanted and present.
    static func softTargetFiles(_ files: CaseFiles, wanted: Bool) -> [String]? {
        wanted ? SoftTargets.files(in: files.directory) : nil
    }

    /// Loads the case in `files` and, when `softTargets` and its folder has them, its soft
    /// targets, and prepares it.
    static func prepare(_ files: CaseFiles, plan: InputPlan, softTargets: Bool) throws -> PreparedCase {
        let loaded = try MultimodalCase.load(files)
        let soft = try softTargetFiles(files, wanted: softTargets).map { try SoftTargets.load($0, dims: loaded.geometry.dims) }
        return prepare(loaded, plan: plan, soft: soft)
    }

    /// Loads from `cache` or prepares and stores there. The key hashes the bytes of every
    /// input file (FNV-1a 64; the soft targets' files too when they are read) together with the
    /// plan, so edited inputs or a changed plan miss. `softTargets`: read the case's soft
    /// targets (a run that does not use them leaves them out, saving their memory, and keeps
    /// the cache keys it always had).
    public static func cached(_ files: CaseFiles, plan: InputPlan, cache: String?, softTargets: Bool = false) throws -> PreparedCase {
        guard let cache else { return try prepare(files, plan: plan, softTargets: softTargets) }
        let key = try cacheKey(files, plan: plan, softTargets: softTargets)
        let path = "\(cache)/\(files.identifier)-\(key).safetensors"
        if let stored = try? SafeTensors.read(from: path), let cached = fromCache(stored, identifier: files.identifier) {
            return cached
        }
        let prepared = try prepare(files, plan: plan, softTargets: softTargets)
        try FileManager.default.createDirectory(atPath: cache, withIntermediateDirectories: true)
        var tensors = ["image": prepared.image, "labels": Tensor(shape: prepared.size, values: prepared.labels.map(Float.init))]
        tensors["soft"] = prepared.softTargets
        try SafeTensors(tensors: tensors, metadata: ["case": files.identifier]).write(to: path)
        return prepared
    }

    /// A case read back from its cache file, or nil when the file does not hold what `cached`
    /// writes: an image 4×D×H×W of finite values, D·H·W whole label values 0…4, soft targets
    /// 3×D×H×W in [0, 1] when present. A damaged cache file (a label of 300 once trapped in `UInt8(_:)`
    /// and stopped every nightly retrain) is then prepared again and overwritten.
    static func fromCache(_ stored: SafeTensors, identifier: String) -> PreparedCase? {
        guard let image = stored.tensors["image"], let labels = stored.tensors["labels"],
              image.shape.count == 4, image.shape[0] == 4 else { return nil }
        let voxels = image.shape.dropFirst().reduce(1, *)
        guard labels.count == voxels,
              image.withUnsafeBufferPointer({ $0.allSatisfy(\.isFinite) }) else { return nil }
        var bytes = [UInt8](repeating: 0, count: voxels)
        let valid = labels.withUnsafeBufferPointer { values in
            for index in 0..<voxels {
                let value = values[index]
                guard value >= 0, value <= 4, value == value.rounded() else { return false }
                bytes[index] = UInt8(value)
            }
            return true
        }
        guard valid else { return nil }
        let soft = stored.tensors["soft"]
        if let soft, soft.count != 3 * voxels || !soft.withUnsafeBufferPointer({ $0.allSatisfy { $0 >= 0 && $0 <= 1 } }) { return nil }
        return PreparedCase(identifier: identifier, image: image, labels: bytes, softTargets: soft)
    }

    static func cacheKey(_ files: CaseFiles, plan: InputPlan, softTargets: Bool) throws -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        func mix(_ bytes: UnsafeRawBufferPointer) {
            for byte in bytes {
                hash ^= UInt64(byte)
                hash = hash &* 0x100_0000_01b3
            }
        }
        for path in files.modalities + [files.segmentation!] + (softTargetFiles(files, wanted: softTargets) ?? []) {
            let data = try Data(contentsOf: URL(fileURLWithPath: path))
            data.withUnsafeBytes(mix)
        }
        // Preparation depends on the resolution and intensity scheme only (not the size multiple).
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        var preparation = plan
        preparation.sizeMultiple = 1
        let planText = String(decoding: try encoder.encode(preparation), as: UTF8.self) + "v1"
        Array(planText.utf8).withUnsafeBytes(mix)
        return String(hash, radix: 16)
    }
}
