/// Counts convolution multiply-adds while enabled, so benchmarks can report the work of a
/// whole network (`brainseg bench model`'s gflop) from the layers that actually ran.
/// Process-global; meant for single-threaded benchmark drivers, not for concurrent passes.
public enum ConvolutionCounter {
    nonisolated(unsafe) public static var isCounting = false
    nonisolated(unsafe) public private(set) static var multiplyAdds = 0

    public static func reset() { multiplyAdds = 0 }

    /// Called by the convolution wrappers with each layer's multiply-adds.
    @inline(__always)
    static func record(_ count: Int) {
        if isCounting { multiplyAdds += count }
    }
}
