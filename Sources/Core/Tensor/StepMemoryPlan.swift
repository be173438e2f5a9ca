/// Where each tensor of a repeating step (a training step) lives, planned from one recorded
/// repetition: requests whose lifetimes do not overlap share a buffer ("slot"), so a step holds
/// about its live peak instead of whatever a free list of size classes accumulates.
///
/// Greedy by size (the shared-objects planner of TensorFlow Lite's GPU delegate): requests in
/// decreasing size each take the smallest slot that is free for their whole lifetime and large
/// enough, else the largest free one (which grows), else a new slot. Requests that outlive the
/// step (`end == nil`: a loss value read afterwards, gradients kept for the optimiser) get no
/// slot. `BufferPool.repeatingStep` records and applies it; a later repetition's tensors find
/// their slots by size and occurrence (`slotsByCount`).
struct StepMemoryPlan: Sendable, Equatable {
    /// One tensor of the recorded step: its float count and its lifetime as positions in the
    /// step's sequence of takes and releases (`end` nil: still alive when the step ended).
    struct Request: Sendable, Equatable {
        var count: Int
        var start: Int
        var end: Int?
    }

    /// The slot of each request; nil for requests that outlive the step.
    let slotOfRequest: [Int?]
    /// Floats per slot: the largest request it serves.
    let slotCapacities: [Int]
    /// For each float count, the slots of the requests of that size in the order they came: a
    /// later repetition's k-th tensor of n floats takes `slotsByCount[n][k]`. Matching by size
    /// and occurrence, not by position, keeps the plan aligned when a repetition makes tensors
    /// of other sizes that the recorded one did not (the optimiser's moments, created at the
    /// first step only).
    let slotsByCount: [Int: [Int?]]

    init(requests: [Request]) {
        var slotOfRequest = [Int?](repeating: nil, count: requests.count)
        var capacities: [Int] = []
        var lifetimes: [[Range<Int>]] = []
        let bySize = requests.indices.filter { requests[$0].end != nil }.sorted {
            requests[$0].count != requests[$1].count ? requests[$0].count > requests[$1].count : $0 < $1
        }
        for index in bySize {
            let request = requests[index]
            let lifetime = request.start..<max(request.end!, request.start + 1)
            var fitting: Int?, growing: Int?
            for slot in capacities.indices where !lifetimes[slot].contains(where: { $0.overlaps(lifetime) }) {
                if capacities[slot] >= request.count {
                    if fitting.map({ capacities[slot] < capacities[$0] }) ?? true { fitting = slot }
                } else if growing.map({ capacities[slot] > capacities[$0] }) ?? true {
                    growing = slot
                }
            }
            let slot: Int
            if let chosen = fitting ?? growing {
                slot = chosen
                capacities[slot] = max(capacities[slot], request.count)
            } else {
                slot = capacities.count
                capacities.append(request.count)
                lifetimes.append([])
            }
            lifetimes[slot].append(lifetime)
            slotOfRequest[index] = slot
        }
        self.slotOfRequest = slotOfRequest
        slotCapacities = capacities
        var slotsByCount: [Int: [Int?]] = [:]
        for (index, request) in requests.enumerated() { slotsByCount[request.count, default: []].append(slotOfRequest[index]) }
        self.slotsByCount = slotsByCount
    }

    /// Floats held by all slots together.
    var plannedFloats: Int { slotCapacities.reduce(0, +) }
}
