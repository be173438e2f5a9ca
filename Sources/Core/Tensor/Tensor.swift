/// A dense Float32 array with a shape, stored contiguously in row-major order (last axis
/// fastest). Volumes are N×C×D×H×W: batch, channels, depth (z), height (y), width (x).
///
/// `Tensor` is a copy-on-write value, like swift-nio's `ByteBuffer`: copies share storage until
/// one is mutated. Hot loops take a pointer once through `withUnsafeBufferPointer` /
/// `withUnsafeMutableBufferPointer` (never index a tensor element by element in a kernel).
public struct Tensor: @unchecked Sendable {
    public private(set) var shape: [Int]
    var storage: TensorStorage

    /// Number of elements (the product of `shape`).
    public var count: Int { storage.count }

    /// A tensor of `shape` filled with `value`.
    public init(shape: [Int], repeating value: Float = 0) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative size in shape \(shape)")
        self.shape = shape
        storage = TensorStorage(count: shape.reduce(1, *), repeating: value)
    }

    /// A tensor of `shape` holding `values` (row-major).
    public init(shape: [Int], values: [Float]) {
        precondition(values.count == shape.reduce(1, *), "\(values.count) values for shape \(shape)")
        self.shape = shape
        storage = TensorStorage(uninitializedCount: values.count)
        values.withUnsafeBufferPointer { storage.pointer.update(from: $0.baseAddress!, count: values.count) }
    }

    /// A tensor of `shape` whose contents the caller must fully write before reading.
    public init(uninitializedShape shape: [Int]) {
        self.shape = shape
        storage = TensorStorage(uninitializedCount: shape.reduce(1, *))
    }

    /// Zeros of the same shape.
    public static func zeros(like other: Tensor) -> Tensor { Tensor(shape: other.shape) }

    /// The elements as an array (for tests and small tensors).
    public var scalars: [Float] { Array(UnsafeBufferPointer(start: storage.pointer, count: count)) }

    /// Read access to the elements.
    public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        try body(UnsafeBufferPointer(start: storage.pointer, count: count))
    }

    /// Write access to the elements; copies the storage first if it is shared.
    public mutating func withUnsafeMutableBufferPointer<R>(_ body: (UnsafeMutableBufferPointer<Float>) throws -> R) rethrows -> R {
        if !isKnownUniquelyReferenced(&storage) { storage = TensorStorage(copying: storage) }
        return try body(UnsafeMutableBufferPointer(start: storage.pointer, count: count))
    }

    /// Whether no other tensor shares this storage, so that a kernel may write its result over
    /// it without changing any other value.
    public mutating func hasUniqueStorage() -> Bool { isKnownUniquelyReferenced(&storage) }

    /// The same elements under another shape with the same element count (shares storage).
    public func reshaped(_ newShape: [Int]) -> Tensor {
        precondition(newShape.reduce(1, *) == count, "cannot reshape \(shape) to \(newShape)")
        var copy = self
        copy.shape = newShape
        return copy
    }

    /// Element at a flat row-major index (tests and debugging only).
    public subscript(flat index: Int) -> Float {
        get {
            precondition(index >= 0 && index < count)
            return storage.pointer[index]
        }
        set {
            precondition(index >= 0 && index < count)
            withUnsafeMutableBufferPointer { $0[index] = newValue }
        }
    }

    /// The N×C×D×H×W sizes of a rank-5 tensor.
    public var volumeShape: VolumeShape {
        precondition(shape.count == 5, "expected an N×C×D×H×W tensor, got shape \(shape)")
        return VolumeShape(batch: shape[0], channels: shape[1], depth: shape[2], height: shape[3], width: shape[4])
    }
}

/// Sizes of an N×C×D×H×W tensor, spelled out.
public struct VolumeShape: Sendable, Equatable, CustomStringConvertible {
    public var batch: Int
    public var channels: Int
    public var depth: Int
    public var height: Int
    public var width: Int

    public init(batch: Int, channels: Int, depth: Int, height: Int, width: Int) {
        self.batch = batch
        self.channels = channels
        self.depth = depth
        self.height = height
        self.width = width
    }

    /// Voxels per channel (D·H·W).
    public var spatialCount: Int { depth * height * width }
    /// The shape as an array.
    public var dimensions: [Int] { [batch, channels, depth, height, width] }
    public var description: String { "\(batch)×\(channels)×\(depth)×\(height)×\(width)" }
}
