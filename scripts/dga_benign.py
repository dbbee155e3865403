"""Write the benign domain list the DGA model learns from: ``python scripts/dga_benign.py``.

The list is ours, composed here and seeded, so it is reproducible and free of any third-party
ranking list's licence: a few hundred well-known service names (facts, typed here), then names
combined from common English, French, Spanish, German, Italian, Portuguese and Dutch words,
brand-like coinages and local-business patterns (trade + surname, town + trade), under a spread
of generic and country-code suffixes.
What matters to a character model is the spelling of human-chosen names, not which sites exist.
"""

from __future__ import annotations

import random
from pathlib import Path


def _words(text: str) -> list[str]:
    return text.split()


SEED = 20261205
TARGET = 9000
OUT = Path(__file__).resolve().parent.parent / "src" / "watchkeeper" / "data" / "dga" / "benign.txt"

SERVICES = _words(
    """
google youtube facebook wikipedia amazon twitter instagram linkedin microsoft apple netflix
yahoo bing reddit whatsapp office live outlook github gitlab stackoverflow mozilla firefox
cloudflare akamai fastly adobe dropbox salesforce oracle ibm intel nvidia samsung sony
spotify paypal ebay alibaba aliexpress baidu tencent yandex vk mailru booking airbnb
tripadvisor expedia uber lyft zoom slack atlassian trello notion canva pinterest tumblr
wordpress blogger medium quora twitch discord telegram signal skype viber steam epicgames
roblox minecraft nintendo playstation xbox hotmail gmail icloud protonmail tutanota
digicert letsencrypt sectigo godaddy namecheap ovh ionos hetzner scaleway gandi
bbc cnn nytimes theguardian lemonde lefigaro liberation elpais elmundo abc marca lequipe
reuters bloomberg forbes wsj ft economist aljazeera france24 rfi dw euronews
imdb weather accuweather meteofrance aemet wetter openstreetmap waze doctolib leboncoin
laposte sncf ratp orange free sfr bouygues telefonica movistar vodafone deutschetelekom
bnpparibas societegenerale creditagricole santander bbva caixabank ing hsbc barclays
lloyds natwest revolut wise stripe visa mastercard americanexpress western union
carrefour auchan leclerc decathlon fnac darty ikea zara mango primark lidl aldi tesco
sainsburys walmart target costco bestbuy homedepot etsy shopify wix squarespace
office365 sharepoint onedrive teams windowsupdate msftconnecttest digitalocean heroku
vercel netlify npmjs pypi rubygems debian ubuntu redhat fedora archlinux kernel python
golang rust-lang nodejs docker kubernetes jetbrains eclipse apache nginx openssl
wikimedia wiktionary archive gutenberg coursera udemy edx khanacademy duolingo
ameli impots service-public legifrance gouv education caf pole-emploi francetravail
boe hacienda seg-social dgt correos renfe iberia airfrance lufthansa ryanair easyjet
vueling klm emirates qatarairways britishairways tap-portugal transavia
"""
)

ENGLISH = _words(
    """
home house garden kitchen market store shop city town river lake mountain valley forest
green blue red black white silver golden bright smart quick easy simple happy sunny
travel journey trip health care family kids school learn study book books library news
daily weekly times post herald journal media press radio music sound video photo image
pixel cloud data code tech digital net web online world global local national united
first best top prime royal grand great little big new old modern classic urban rural
food fresh farm pizza coffee bakery wine beer tea burger grill kitchen table chef taste
sport sports football soccer tennis golf running fitness yoga dance club team league game
games play fun art design studio creative craft print paper office work job jobs career
money bank invest finance insurance credit loan pay cash trade capital fund wealth
auto car cars motor drive road bike cycle fleet parts repair service services solutions
group systems network partners consulting agency legal law dental medical clinic vision
pet pets dog cat animal vet baby mother star moon sun light fire water stone wood iron
north south east west ocean sea island coast harbor bay bridge tower castle park square
hotel resort travel beach holiday camp camping lodge inn house cottage estate property
real estate rent rental homes build builder construction roof plumbing electric energy
solar power green eco nature bio organic natural clean pure life living well wellness
secure safe guard trust shield lock key signal connect link hub point zone space place
mail post send box ship shipping cargo express delivery route map guide review deals
"""
)

FRENCH = _words(
    """
maison jardin cuisine marche boutique ville village riviere montagne vallee foret vert
bleu rouge noir blanc petit grand nouveau vieux beau belle joli bon bonne soleil lune
voyage sante famille enfants ecole livre librairie journal presse radio musique photo
nuage reseau monde local national premier meilleur royal boulangerie patisserie fromagerie
boucherie epicerie cafe vin biere the restaurant brasserie bistrot cave traiteur pizzeria
sport foot velo course danse equipe jeu jeux atelier creation papier bureau travail emploi
argent banque assurance credit pret paiement commerce capital garage auto voiture moto
reparation services conseil agence avocat notaire cabinet dentaire medical clinique optique
animaux chien chat veterinaire etoile lumiere feu eau pierre bois fer nord sud est ouest
ocean mer ile cote port pont tour chateau parc place hotel plage vacances camping gite
immobilier location construction toiture plomberie electricite energie solaire nature
securite confiance lien espace courrier colis livraison route carte guide avis bonplan
mairie commune region departement prefecture association amicale collectif fondation
"""
)

SPANISH = _words(
    """
casa jardin cocina mercado tienda ciudad pueblo rio lago montana valle bosque verde azul
rojo negro blanco pequeno grande nuevo viejo bueno buena sol luna viaje salud familia
ninos escuela libro libreria diario prensa musica foto nube red mundo nacional primero
mejor real panaderia pasteleria carniceria fruteria cafeteria vino cerveza restaurante
taberna bodega asador deporte futbol bici carrera baile equipo juego juegos taller papel
oficina trabajo empleo dinero banco seguros credito pago comercio capital taller coche
moto reparacion servicios consultoria agencia abogado notaria clinica dental optica
mascotas perro gato veterinario estrella luz fuego agua piedra madera hierro norte sur
este oeste mar isla costa puerto puente torre castillo parque plaza hotel playa vacaciones
inmobiliaria alquiler construccion fontaneria electricidad energia solar naturaleza
seguridad confianza enlace espacio correo paquete envio ruta mapa guia ofertas ayuntamiento
comunidad provincia asociacion fundacion colegio instituto universidad farmacia ferreteria
"""
)

GERMAN = _words(
    """
heim zuhause kueche laden dorf tal insel hafen kirche rathaus strasse platz ecke brunnen
gruen blau rot weiss schwarz neu alt gross klein schnell einfach gut besser beste froh
reisen urlaub gesundheit familie kinder buch buecher verlag nachrichten presse funk ton
netz daten wolke rechner digital zukunft heute morgen woche jahr zeit uhr
baecker baeckerei metzgerei konditorei brauerei weingut gasthaus gasthof wirtschaft
fussball verein turnier spiele spiel mannschaft lauf rad fahrrad tanz schwimmbad
versicherung kasse geld sparkasse handel boerse kapital fonds steuer beratung kanzlei
anwalt notar zahnarzt praxis apotheke optiker tierarzt hund katze pferd garten blumen
immobilien wohnung miete bau dach heizung elektro solar strom energie umwelt natur
sicher schutz vertrauen verbindung post paket versand lieferung karte fuehrer
"""
)

ITALIAN = _words(
    """
casetta cucina negozio paese valle isola chiesa comune piazza strada ponte torre castello
verde azzurro rosso nero bianco nuovo vecchio grande piccolo bello buono migliore felice
viaggi vacanze salute famiglia bambini libri editore notizie stampa radio musica foto
rete dati nuvola digitale futuro oggi domani settimana anno tempo ora
panificio pasticceria macelleria salumeria enoteca vino birra trattoria osteria pizzeria
calcio squadra gioco giochi corsa bici ballo palestra piscina
assicurazioni cassa soldi commercio borsa capitale consulenza studio avvocato notaio
dentista medico clinica ottica veterinario cane gatto cavallo fiori
immobiliare affitti costruzioni tetto riscaldamento elettricista energia ambiente natura
sicurezza fiducia collegamento posta pacco spedizioni consegna mappa guida
"""
)

PORTUGUESE = _words(
    """
lar cozinha vila vale igreja camara rua praca ponte torre castelo verde azul vermelho
preto branco novo velho grande pequeno bonito bom melhor feliz viagens ferias familia
criancas livros editora revista radio musica foto rede dados nuvem digital futuro hoje
amanha semana ano tempo hora confeitaria talho adega vinho cerveja tasca restaurante
bola equipa jogo jogos corrida bicicleta danca ginasio piscina seguros dinheiro comercio
bolsa capital consultoria advogado notario dentista medico clinica otica veterinario cao
gato cavalo flores imobiliaria aluguer construcao telhado aquecimento energia ambiente
natureza seguranca confianca ligacao correio encomenda envios entrega mapa guia
"""
)

DUTCH = _words(
    """
huis tuin keuken winkel dorp dal eiland haven kerk gemeente straat plein brug toren
groen blauw rood zwart wit nieuw oud groot klein snel mooi goed beter beste blij reizen
vakantie gezondheid gezin kinderen boeken uitgeverij nieuws krant omroep muziek foto
netwerk gegevens wolk digitaal toekomst vandaag morgen week jaar tijd bakkerij slagerij
brouwerij wijn bier eetcafe voetbal ploeg spel spellen fiets dans zwembad verzekering
geld handel beurs kapitaal advies advocaat notaris tandarts dokter kliniek opticien
dierenarts hond kat paard bloemen makelaar verhuur bouw dak verwarming energie milieu
natuur veiligheid vertrouwen verbinding pakket bezorging kaart gids
"""
)

SURNAMES = _words(
    """
martin bernard dubois thomas robert richard petit durand leroy moreau simon laurent
lefebvre michel garcia david bertrand roux vincent fournier morel girard andre mercier
blanc guerin boyer garnier chevalier francois legrand gauthier perrin robin clement
morin nicolas henry roussel mathieu gautier masson marchand duval denis dumont marie
lemaire noel meyer dufour meunier brun blanchard giraud joly riviere lucas brunet gaillard
smith johnson williams brown jones miller davis wilson anderson taylor moore jackson white
harris clark lewis walker hall allen young king wright scott green baker adams nelson hill
campbell mitchell roberts carter phillips evans turner parker collins edwards stewart
morris murphy cook rogers morgan cooper peterson bailey reed kelly howard cox ward
rodriguez fernandez lopez martinez sanchez perez gomez diaz hernandez alvarez romero
navarro torres dominguez vazquez ramos gil ramirez serrano molina blanco suarez ortega
delgado castro ortiz rubio marin sanz iglesias nunez medina garrido cortes castillo
santos lozano guerrero cano prieto mendez cruz calvo gallego herrera marquez leon
"""
)

TOWNS = _words(
    """
paris lyon marseille toulouse nice nantes strasbourg montpellier bordeaux lille rennes
reims toulon grenoble dijon angers nimes brest limoges tours amiens metz besancon perpignan
orleans rouen caen nancy avignon poitiers pau calais cannes bayonne annecy vannes quimper
madrid barcelona valencia sevilla zaragoza malaga murcia palma bilbao alicante cordoba
valladolid vigo gijon granada oviedo santander toledo salamanca burgos leon cadiz
london manchester birmingham leeds glasgow liverpool bristol sheffield edinburgh cardiff
belfast leicester coventry bradford nottingham oxford cambridge brighton york bath
sydney melbourne brisbane perth adelaide auckland wellington dublin cork boston chicago
denver austin seattle portland atlanta dallas houston phoenix miami montreal quebec
toronto vancouver ottawa dakar abidjan tunis alger casablanca rabat bamako lome cotonou
"""
)

# Infrastructure names (CDNs, update, login and telemetry hosts) are spelt from a jargon of
# their own, which ordinary words do not teach the model.
TECH = _words(
    """
cdn api app apps sync update updates cloud login secure mail web static assets img images dl
download files portal auth sso vpn remote data sys svc edge host hosting srv dns ntp telemetry
metrics analytics ads track tracking pixel push notify stream media video cache proxy gateway
client clients service services status health monitor backup storage share drive docs chat
connect account accounts my id identity pay checkout shop store cart search maps geo time
config settings admin panel dev test stage beta prod live mobile m www ws wss rpc graph json
"""
)
SUFFIXES_BRAND = _words("ly ify io hub lab labs box go app pro plus max now zone point base go24")
TLDS = (
    ["com"] * 30
    + ["net"] * 6
    + ["org"] * 6
    + ["fr"] * 8
    + ["es"] * 6
    + ["co.uk"] * 4
    + ["de", "it", "nl", "be", "ch", "at", "pt", "ie", "pl", "se", "dk", "no", "fi"]
    + ["com.au", "co.nz", "ca", "us", "mx", "com.br", "com.ar", "cl", "co", "pe"]
    + ["sn", "ci", "ma", "tn", "cm", "io", "info", "biz", "eu", "online", "shop", "app"]
)


def _name(rng: random.Random) -> str:
    words = ENGLISH + FRENCH + SPANISH + GERMAN + ITALIAN + PORTUGUESE + DUTCH
    english, french, spanish = (rng.choice(x) for x in (ENGLISH, FRENCH, SPANISH))
    pattern = rng.randrange(17)
    if pattern == 0:
        return rng.choice(SERVICES)
    if pattern in (1, 2):
        return rng.choice([english, french, spanish]) + rng.choice(words)
    if pattern == 3:
        return f"{rng.choice(words)}-{rng.choice(words)}"
    if pattern == 4:
        return rng.choice(words) + rng.choice(SUFFIXES_BRAND)
    if pattern == 5:
        return f"{rng.choice(words)}{rng.choice(SURNAMES)}"
    if pattern == 6:
        return f"{rng.choice(words)}-{rng.choice(SURNAMES)}"
    if pattern == 7:
        return f"{rng.choice(SURNAMES)}{rng.choice(['', '-'])}{rng.choice(words)}"
    if pattern == 8:
        return f"{rng.choice(TOWNS)}{rng.choice(['', '-'])}{rng.choice(words)}"
    if pattern == 9:
        return f"{rng.choice(words)}{rng.choice(TOWNS)}"
    if pattern == 10:
        number = rng.choice(["24", "365", "360", "2000", "1", "2", "3", "4u", "7", "99", "101"])
        return f"{rng.choice(words)}{number}"
    if pattern == 11:
        return rng.choice(words) + rng.choice(words) + rng.choice(["", "s", "online", "shop"])
    if pattern == 12:
        article = rng.choice(["le", "la", "les", "el", "los", "the", "my", "mon", "mi"])
        return f"{article}{rng.choice(words)}"
    if pattern == 13:
        return f"{rng.choice(SURNAMES)}-{rng.choice(SURNAMES)}"
    if pattern == 14:
        return "-".join(rng.choice(TECH) for _ in range(rng.choice((2, 2, 3))))
    if pattern == 15:
        return f"{rng.choice(words)}{rng.choice(['', '-'])}{rng.choice(TECH)}"
    return f"{rng.choice(TECH)}{rng.choice(['', '-'])}{rng.choice(SERVICES + words)}"


def build(*, seed: int = SEED, target: int = TARGET) -> list[str]:
    """``target`` distinct names, sorted, from ``seed``."""
    rng = random.Random(seed)
    names = {
        f"{service}.{rng.choice(['com', 'com', 'org', 'net', 'fr', 'es'])}" for service in SERVICES
    }
    while len(names) < target:
        names.add(f"{_name(rng)}.{rng.choice(TLDS)}")
    return sorted(names)


def main() -> None:
    """Write the list beside the package data (one name a line)."""
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text("\n".join(build()) + "\n", encoding="utf-8")
    print(f"wrote {TARGET} names to {OUT.name}")


if __name__ == "__main__":
    main()
