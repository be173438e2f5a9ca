import Daemon
import Testing

@Suite("Root layout")
struct RootLayoutTests {
    @Test func foldersFollowTheSpecification() {
        let layout = RootLayout(root: "/var/lib/brainseg/")
        #expect(layout.incoming == "/var/lib/brainseg/incoming")
        #expect(layout.ledger == "/var/lib/brainseg/ledger.sqlite")
        #expect(layout.folders.count == 8)   // incoming work output failed archive pool models deferred
        #expect(RootLayout(root: RootLayout.defaultRoot).output == "./var/output")
    }

    @Test("case names cannot leave the root or smuggle control characters",
          arguments: ["..", ".", ".hidden", "a/b", "../etc", "", "bad\nname", "tab\tname", "del\u{7f}",
                      String(repeating: "x", count: 256), String(repeating: "x", count: RootLayout.maximumCaseNameBytes + 1)])
    func unsafeNames(_ name: String) {
        #expect(!RootLayout.isSafeCaseName(name))
    }

    @Test(arguments: ["Brats18_2013_3_1", "BraTS-GLI-00001-000", "case 42", "Ünïcødé", String(repeating: "x", count: RootLayout.maximumCaseNameBytes)])
    func safeNames(_ name: String) {
        #expect(RootLayout.isSafeCaseName(name))
    }
}
