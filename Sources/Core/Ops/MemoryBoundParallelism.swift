/// Shared plumbing for the memory-bound kernels in `Ops/` (normalization, activations, channel
/// ops, resampling, dropout): when to split work over the engine's threads, and element-wise
/// map helpers that take each buffer pointer once and hand disjoint chunks to `Parallel`.
///
/// These kernels use the engine's threads only; none of them calls BLAS, so the rule "engine
/// threads or OpenBLAS threads, never both" holds trivially.
enum MemoryBoundParallelism {
    /// Elements a worker should have at least before a kernel splits; below this the
    /// hand-off to a second thread costs more than it saves (tiny tensors stay single-threaded,
    /// which also keeps debug-build tests deterministic and cheap).
    static let minimumElementsPerWorker = 1 << 15

    /// The `minimumChunk` for `Parallel.forEachChunk` over items of `elementsPerItem` elements.
    static func minimumItems(elementsPerItem: Int) -> Int {
        max(1, minimumElementsPerWorker / max(1, elementsPerItem))
    }

    /// A new tensor of `input`'s shape with `body(source, target, count)` applied to disjoint
    /// chunks (the body sees chunk-relative pointers and must write all `count` targets).
    static func map(
        _ input: Tensor,
        _ body: @Sendable (_ source: UnsafePointer<Float>, _ target: UnsafeMutablePointer<Float>, _ count: Int) -> Void
    ) -> Tensor {
        var output = Tensor(uninitializedShape: input.shape)
        input.withUnsafeBufferPointer { source in
            output.withUnsafeMutableBufferPointer { target in
                guard let sourceBase = source.baseAddress, let targetBase = target.baseAddress else { return }
                let sourcePointer = SendableConstPointer(sourceBase)
                let targetPointer = SendablePointer(targetBase)
                Parallel.forEachChunk(source.count, minimumChunk: minimumElementsPerWorker) { range in
                    body(sourcePointer.pointer + range.lowerBound, targetPointer.pointer + range.lowerBound, range.count)
                }
            }
        }
        return output
    }

    /// A new tensor of the common shape with `body(first, second, target, count)` applied to
    /// disjoint chunks of two same-shaped inputs.
    static func map(
        _ first: Tensor, _ second: Tensor,
        _ body: @Sendable (_ first: UnsafePointer<Float>, _ second: UnsafePointer<Float>,
                           _ target: UnsafeMutablePointer<Float>, _ count: Int) -> Void
    ) -> Tensor {
        precondition(first.shape == second.shape, "element-wise kernel: shapes \(first.shape) and \(second.shape) differ")
        var output = Tensor(uninitializedShape: first.shape)
        first.withUnsafeBufferPointer { firstBuffer in
            second.withUnsafeBufferPointer { secondBuffer in
                output.withUnsafeMutableBufferPointer { target in
                    guard let firstBase = firstBuffer.baseAddress, let secondBase = secondBuffer.baseAddress,
                          let targetBase = target.baseAddress else { return }
                    let firstPointer = SendableConstPointer(firstBase)
                    let secondPointer = SendableConstPointer(secondBase)
                    let targetPointer = SendablePointer(targetBase)
                    Parallel.forEachChunk(target.count, minimumChunk: minimumElementsPerWorker) { range in
                        body(firstPointer.pointer + range.lowerBound, secondPointer.pointer + range.lowerBound,
                             targetPointer.pointer + range.lowerBound, range.count)
                    }
                }
            }
        }
        return output
    }
}
