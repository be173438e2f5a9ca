import Foundation

/// The heap buffer behind a `Tensor`. Reference type so that `Tensor` can be a copy-on-write
/// value; the memory comes from and returns to `BufferPool`, so a forward pass that frees one
/// activation and allocates the next of similar size reuses pages instead of faulting new ones.
final class TensorStorage: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<Float>
    let count: Int
    private let capacity: Int

    /// Uninitialised storage for `count` floats.
    init(uninitializedCount count: Int) {
        let (pointer, capacity) = BufferPool.shared.takePlanned(count)
        self.pointer = pointer
        self.count = count
        self.capacity = capacity
    }

    /// Storage filled with `value`.
    convenience init(count: Int, repeating value: Float) {
        self.init(uninitializedCount: count)
        pointer.initialize(repeating: value, count: count)
    }

    /// A copy of `other`.
    convenience init(copying other: TensorStorage) {
        self.init(uninitializedCount: other.count)
        pointer.update(from: other.pointer, count: count)
    }

    deinit { BufferPool.shared.recycle(pointer, capacity: capacity) }
}
