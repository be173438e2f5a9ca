import Core
import Foundation
@testable import Plugins
import Testing
import TestSupport

/// The augmentation extensions (rotation about all axes, gamma, noise): off by default without
/// changing the random streams of existing recipes, and each doing what it states.
@Suite("Augmentation extensions")
struct AugmentationExtensionTests {
    @Test("without the extensions a draw consumes exactly the paper augmentation's 14 numbers and sets none of them")
    func defaultsDrawTheSameStream() {
        var drawn = SeededRandom(seed: 42), reference = SeededRandom(seed: 42)
        let draw = Augmentation().draw(&drawn)
        for _ in 0..<14 { _ = reference.nextUniform() }
        #expect(drawn.next() == reference.next(), "the default draw consumed a different number of random values")
        #expect(draw.tilt == nil && draw.gammas == nil && draw.noise == nil)

        var extended = Augmentation()
        extended.rotateAllAxes = true
        extended.gammaRange = 0.7...1.5
        extended.noiseStandardDeviation = 0.1
        var random = SeededRandom(seed: 42)
        let full = extended.draw(&random)
        #expect(full.scales == draw.scales && full.angle == draw.angle && full.shifts == draw.shifts, "extensions must be drawn after the paper's")
        #expect(full.tilt != nil && full.gammas?.count == 4 && full.noise != nil)
    }

    /// A 16³ case whose channels hold the voxel's z, y and x coordinate (plus 100, so none is 0).
    static func coordinateCase() -> PreparedCase {
        let n = 16
        var image = Tensor(shape: [4, n, n, n])
        image.withUnsafeMutableBufferPointer { v in
            for z in 0..<n { for y in 0..<n { for x in 0..<n {
                let i = (z * n + y) * n + x
                v[i] = Float(100 + z); v[n * n * n + i] = Float(100 + y); v[2 * n * n * n + i] = Float(100 + x); v[3 * n * n * n + i] = 1
            } } }
        }
        return PreparedCase(identifier: "coordinates", image: image, labels: [UInt8](repeating: 0, count: n * n * n))
    }

    @Test("a 90° tilt about x samples the source's z along the patch's y (and y along −z)")
    func tiltAboutX() {
        var draw = Augmentation.Draw()
        draw.tilt = (aboutX: Double.pi / 2, aboutY: 0)
        let patch = PatchSampler.extract(Self.coordinateCase(), centre: [8.5, 8.5, 8.5], size: [8, 8, 8], draw: draw)
        let values = patch.image.scalars, count = 512
        for z in 0..<8 { for y in 0..<8 { for x in 0..<8 {
            let i = (z * 8 + y) * 8 + x
            let dz = Double(z) - 3.5, dy = Double(y) - 3.5
            #expect(abs(Double(values[i]) - (100 + 8.5 - dy)) < 1e-3, "source z at \(z),\(y),\(x)")
            #expect(abs(Double(values[count + i]) - (100 + 8.5 + dz)) < 1e-3, "source y at \(z),\(y),\(x)")
            #expect(abs(Double(values[2 * count + i]) - (100 + 8.5 + Double(x) - 3.5)) < 1e-3, "x is untouched")
        } } }
    }

    @Test("gamma keeps each channel's foreground range and order, γ = 1 changes nothing, background stays 0")
    func gamma() {
        let values: [Float] = [0, 1, 2, 3, 5, 0, 0.5, 4]
        var image = Tensor(shape: [1, 2, 1, 1, 4], values: values)
        IntensityAugmentation.gamma(&image, gammas: [1, 1])
        #expect(zip(image.scalars, values).allSatisfy { abs($0 - $1) < 1e-6 })
        IntensityAugmentation.gamma(&image, gammas: [2, 0.5])
        let out = image.scalars
        // Channel 0 is [0, 1, 2, 3]: foreground 1…3, γ 2 maps 2 to 1 + 2·0.5² = 1.5.
        #expect(out[0] == 0 && abs(out[1] - 1) < 1e-6 && abs(out[3] - 3) < 1e-6 && abs(out[2] - 1.5) < 1e-6, "channel 0: \(out[0..<4])")
        // Channel 1 is [5, 0, 0.5, 4]: foreground 0.5…5, γ 0.5 maps 4 to 0.5 + 4.5·√(3.5/4.5).
        #expect(out[5] == 0 && abs(out[4] - 5) < 1e-6 && abs(out[6] - 0.5) < 1e-6, "channel 1: \(out[4..<8])")
        #expect(abs(Double(out[7]) - (0.5 + 4.5 * (3.5 / 4.5).squareRoot())) < 1e-5)
    }

    @Test("noise has the stated spread on the foreground, none on the background, and repeats per seed")
    func noise() {
        var values = [Float](repeating: 1, count: 20_000)
        for i in stride(from: 0, to: values.count, by: 2) { values[i] = 0 }
        var image = Tensor(shape: [1, 1, 1, 1, values.count], values: values)
        IntensityAugmentation.noise(&image, standardDeviation: 0.2, seed: 9)
        let out = image.scalars
        let foreground = stride(from: 1, to: values.count, by: 2).map { Double(out[$0]) - 1 }
        let mean = foreground.reduce(0, +) / Double(foreground.count)
        let sd = (foreground.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(foreground.count)).squareRoot()
        #expect(abs(sd - 0.2) < 0.01 && abs(mean) < 0.01, "sd \(sd), mean \(mean)")
        #expect(stride(from: 0, to: values.count, by: 2).allSatisfy { out[$0] == 0 })
        var again = Tensor(shape: [1, 1, 1, 1, values.count], values: values)
        IntensityAugmentation.noise(&again, standardDeviation: 0.2, seed: 9)
        #expect(again.scalars == out)
    }

    @Test("run folders written before the extensions decode, with the extensions off")
    func olderRunFoldersDecode() throws {
        let old = #"{"scaleRange":[0.9,1.1],"rotationDegrees":15,"mirror":true,"intensityShift":0.1,"contrastRange":[0.9,1.1],"enabled":true}"#
        let decoded = try JSONDecoder().decode(Augmentation.self, from: Data(old.utf8))
        #expect(decoded == Augmentation())
        #expect(decoded.rotateAllAxes == nil && decoded.gammaRange == nil && decoded.noiseStandardDeviation == nil)
    }
}
