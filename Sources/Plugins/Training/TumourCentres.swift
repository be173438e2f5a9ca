import Core

/// The tumour voxels a training patch may be centred on (`PatchSampler.centre`): either all of
/// them uniformly (the paper's sampling, dominated by edema), or class-balanced: first one of
/// the tumour classes present in the case (NCR/NET, edema, ET) uniformly, then a voxel of it,
/// so that small enhancing and core regions (low-grade and small tumours) are centred on as
/// often as edema. `TrainingConfiguration.classBalancedCentres` chooses.
///
/// Random use: one draw per pick when there is one group (all voxels, or a single class
/// present), which is exactly what the uniform sampling always consumed; two otherwise.
struct TumourCentres: Sendable {
    private let groups: [[Int]]

    /// Flat voxel indices of `labels` (D×H×W) grouped as described.
    init(labels: [UInt8], classBalanced: Bool) {
        let tumour = labels.indices.filter { labels[$0] != 0 }
        guard classBalanced else {
            groups = tumour.isEmpty ? [] : [tumour]
            return
        }
        var byClass: [UInt8: [Int]] = [:]
        for index in tumour { byClass[labels[index], default: []].append(index) }
        groups = byClass.keys.sorted().map { byClass[$0]! }
    }

    var isEmpty: Bool { groups.isEmpty }

    /// A voxel index; the instance must not be empty.
    func pick(_ random: inout SeededRandom) -> Int {
        let group = groups.count == 1 ? groups[0] : groups[Int(random.next() % UInt64(groups.count))]
        return group[Int(random.next() % UInt64(group.count))]
    }
}
