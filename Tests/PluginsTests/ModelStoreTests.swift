import Core
import Foundation
import Plugins
import Testing
import TestSupport

@Suite("Model store")
struct ModelStoreTests {
    static func card(_ model: SegmentationModel) -> ModelCard {
        ModelCard(name: model.name, version: "1", profile: model.profile, role: model.role,
                  architecture: model.architecture, parameterCount: model.parameterCount)
    }

    @Test("a saved model loads back with identical weights")
    func roundTrip() throws {
        let scratch = try TemporaryDirectory()
        let model = StudentModel(profile: .cpu, seed: 9)
        try ModelStore.save(model, card: Self.card(model), to: scratch.file("student/1"))
        let (loaded, card) = try ModelStore.load(directory: scratch.file("student/1"))
        #expect(card.name == "student" && loaded.name == "student")
        #expect(zip(loaded.parameters, model.parameters).allSatisfy { $0.value.scalars == $1.value.scalars })
    }

    @Test("the card is checked against the registry: unknown model, wrong profile, other architecture, wrong weights")
    func mismatchesAreReported() throws {
        let scratch = try TemporaryDirectory()
        let model = UNetModel(profile: .cpu, seed: 1)
        var card = Self.card(model)
        try ModelStore.save(model, card: card, to: scratch.file("unet"))
        func reload(_ change: (inout ModelCard) -> Void) throws {
            var edited = card
            change(&edited)
            try AtomicFile.write([UInt8](try edited.encoded()), to: scratch.file("unet/model.json"))
        }
        try reload { $0.name = "vnet" }
        #expect { try ModelStore.load(directory: scratch.file("unet")) } throws: { "\($0)".contains("unknown model 'vnet'") }
        // A card from elsewhere can name a profile this build does not know.
        let text = String(decoding: try card.encoded(), as: UTF8.self).replacingOccurrences(of: "\"profile\" : \"cpu\"", with: "\"profile\" : \"gpu\"")
        #expect(text.contains("\"gpu\""))
        try AtomicFile.write(Array(text.utf8), to: scratch.file("unet/model.json"))
        #expect { try ModelStore.load(directory: scratch.file("unet")) } throws: { "\($0)".contains("unknown profile 'gpu'") }
        try reload { $0.architecture["base_width"] = 30 }
        #expect { try ModelStore.load(directory: scratch.file("unet")) } throws: { "\($0)".contains("base_width: card 30, registry 16") }
        card.name = "student"
        try reload { $0.name = "student"; $0.architecture = StudentModel(profile: .cpu).architecture }
        #expect { try ModelStore.load(directory: scratch.file("unet")) } throws: { error in
            let text = "\(error)"
            return text.contains("weights.safetensors") && text.contains("conv_input.weight")
        }
    }
}
