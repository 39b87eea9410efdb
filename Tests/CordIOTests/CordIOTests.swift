import Testing
import CordTestSupport
