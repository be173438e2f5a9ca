import Core
import Foundation

/// A case ready for training one model: the brain crop in the model's working grid,
/// normalised per its plan, with labels resampled to the same grid (nearest neighbour).
/// Cached on disk, keyed by the content hash of the input files and the plan.
public struct PreparedCase: Sendable {
    public var identifier: String
    /// 4×D×H×W (T1, T1ce, T2, FLAIR), D = z.
    public var image: Tensor
    /// D×H×W label values (0, 1, 2, 4), as bytes.
    public var labels: [UInt8]
    /// (D, H, W).
    public var size: [Int] { Array(image.shape.dropFirst()) }

    /// Voxel indices (flat, D×H×W) of tumour, for tumour-centred patch sampling.
    public var tumourVoxels: [Int] { labels.indices.filter { labels[$0] != 0 } }

    /// Prepares a labelled case for `plan` (crop to the brain, normalise, resample).
    public static func prepare(_ loaded: MultimodalCase, plan: InputPlan) -> PreparedCase {
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
        return PreparedCase(identifier: loaded.identifier, image: resampled.reshaped([4, working[2], working[1], working[0]]), labels: labels)
    }

    /// Loads from `cache` or prepares and stores there. The key hashes the bytes of every
    /// input file (FNV-1a 64) together with the plan, so edited inputs or a changed plan miss.
    public static func cached(_ files: CaseFiles, plan: InputPlan, cache: String?) throws -> PreparedCase {
        guard let cache else { return prepare(try MultimodalCase.load(files), plan: plan) }
        let key = try cacheKey(files, plan: plan)
        let path = "\(cache)/\(files.identifier)-\(key).safetensors"
        if let stored = try? SafeTensors.read(from: path), let image = stored.tensors["image"], let labels = stored.tensors["labels"] {
            return PreparedCase(identifier: files.identifier, image: image, labels: labels.scalars.map { UInt8($0) })
        }
        let prepared = prepare(try MultimodalCase.load(files), plan: plan)
        try FileManager.default.createDirectory(atPath: cache, withIntermediateDirectories: true)
        try SafeTensors(tensors: ["image": prepared.image, "labels": Tensor(shape: prepared.size, values: prepared.labels.map(Float.init))],
                        metadata: ["case": files.identifier]).write(to: path)
        return prepared
    }

    static func cacheKey(_ files: CaseFiles, plan: InputPlan) throws -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        func mix(_ bytes: UnsafeRawBufferPointer) {
            for byte in bytes {
                hash ^= UInt64(byte)
                hash = hash &* 0x100_0000_01b3
            }
        }
        for path in files.modalities + [files.segmentation!] {
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
