// CordPhantom
