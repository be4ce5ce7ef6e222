; Inno Setup 6 script: the Windows installer of one Fieldcast edition, made from its PyInstaller bundle.
;
;   iscc /DEdition=studio /DAppVersion=0.1.0 packaging\windows\fieldcast.iss   -> dist\fieldcast-setup-0.1.0.exe
;   iscc /DEdition=player /DAppVersion=0.1.0 packaging\windows\fieldcast.iss   -> dist\fieldcast-player-setup-0.1.0.exe
;
; Build the bundle first (dist\fieldcast\ or dist\fieldcast-player\, see packaging\fieldcast.spec).
; Installs for all users (Program Files) or, if the user chooses so, for the current user only.
; Silent install as CI does it: fieldcast-setup-0.1.0.exe /VERYSILENT /SUPPRESSMSGBOXES /NORESTART

#ifndef Edition
  #define Edition "studio"
#endif
#ifndef AppVersion
  #define AppVersion "0.1.0"
#endif

#if Edition == "player"
  #define AppName "Fieldcast Player"
  #define BundleName "fieldcast-player"
  ; AppId must never change between versions of one edition (it identifies the installation).
  #define AppGuid "{{6B2E6C5A-3F0D-4E55-9C71-2D9B8F0A4E21}"
#elif Edition == "studio"
  #define AppName "Fieldcast"
  #define BundleName "fieldcast"
  #define AppGuid "{{C4F1A7D2-8E3B-4B69-A0D5-7E2F91B36C48}"
#else
  #error Edition must be "studio" or "player"
#endif

[Setup]
AppId={#AppGuid}
AppName={#AppName}
AppVersion={#AppVersion}
AppVerName={#AppName} {#AppVersion}
AppPublisher=Fieldcast
DefaultDirName={autopf}\{#AppName}
DefaultGroupName={#AppName}
DisableProgramGroupPage=yes
PrivilegesRequired=admin
PrivilegesRequiredOverridesAllowed=dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
MinVersion=10.0
ChangesAssociations=yes
SourceDir=..\..
OutputDir=dist
OutputBaseFilename={#BundleName}-setup-{#AppVersion}
SetupIconFile=fieldcast\resources\icons\fieldcast.ico
UninstallDisplayIcon={app}\fieldcast.exe
Compression=lzma2/max
SolidCompression=yes
WizardStyle=modern

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked
Name: "assocdata"; Description: "Open HDF5 datasets (.h5, .hdf5) with {#AppName}"; GroupDescription: "File associations:"
Name: "assocmodel"; Description: "Open ONNX models (.onnx) with {#AppName}"; GroupDescription: "File associations:"

[Files]
Source: "dist\{#BundleName}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{autoprograms}\{#AppName}"; Filename: "{app}\fieldcast.exe"
Name: "{autodesktop}\{#AppName}"; Filename: "{app}\fieldcast.exe"; Tasks: desktopicon

[Registry]
; Programmatic identifiers; "Open with" lists them for .h5/.hdf5/.onnx without taking those extensions away
; from other programs, and they become the default when no other program claims the extension.
Root: HKA; Subkey: "Software\Classes\Fieldcast.Dataset"; ValueType: string; ValueName: ""; ValueData: "Fieldcast dataset"; Flags: uninsdeletekey; Tasks: assocdata
Root: HKA; Subkey: "Software\Classes\Fieldcast.Dataset\DefaultIcon"; ValueType: string; ValueName: ""; ValueData: "{app}\fieldcast.exe,0"; Tasks: assocdata
Root: HKA; Subkey: "Software\Classes\Fieldcast.Dataset\shell\open\command"; ValueType: string; ValueName: ""; ValueData: """{app}\fieldcast.exe"" ""%1"""; Tasks: assocdata
Root: HKA; Subkey: "Software\Classes\.h5\OpenWithProgids"; ValueType: string; ValueName: "Fieldcast.Dataset"; ValueData: ""; Flags: uninsdeletevalue; Tasks: assocdata
Root: HKA; Subkey: "Software\Classes\.hdf5\OpenWithProgids"; ValueType: string; ValueName: "Fieldcast.Dataset"; ValueData: ""; Flags: uninsdeletevalue; Tasks: assocdata
Root: HKA; Subkey: "Software\Classes\Fieldcast.Model"; ValueType: string; ValueName: ""; ValueData: "Fieldcast model"; Flags: uninsdeletekey; Tasks: assocmodel
Root: HKA; Subkey: "Software\Classes\Fieldcast.Model\DefaultIcon"; ValueType: string; ValueName: ""; ValueData: "{app}\fieldcast.exe,0"; Tasks: assocmodel
Root: HKA; Subkey: "Software\Classes\Fieldcast.Model\shell\open\command"; ValueType: string; ValueName: ""; ValueData: """{app}\fieldcast.exe"" ""%1"""; Tasks: assocmodel
Root: HKA; Subkey: "Software\Classes\.onnx\OpenWithProgids"; ValueType: string; ValueName: "Fieldcast.Model"; ValueData: ""; Flags: uninsdeletevalue; Tasks: assocmodel
Root: HKA; Subkey: "Software\Classes\Applications\fieldcast.exe\SupportedTypes"; ValueType: string; ValueName: ".h5"; ValueData: ""; Flags: uninsdeletekey
Root: HKA; Subkey: "Software\Classes\Applications\fieldcast.exe\SupportedTypes"; ValueType: string; ValueName: ".hdf5"; ValueData: ""
Root: HKA; Subkey: "Software\Classes\Applications\fieldcast.exe\SupportedTypes"; ValueType: string; ValueName: ".onnx"; ValueData: ""

[Run]
Filename: "{app}\fieldcast.exe"; Description: "{cm:LaunchProgram,{#AppName}}"; Flags: nowait postinstall skipifsilent
