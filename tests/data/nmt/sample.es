cacto grande de México central del este habiendo dorado a flores amarillas pálidas y espinas
la segunda fase de mitosis
la atmósfera de un entorno
extremadamente agudo o intenso
teniendo un tapón en el inaugural
el mango de una hacha
self-Gobierno en asuntos locales por una ciudad o condado que es parte de un gobierno nacional
pequeño grande-eyed salamandra semiacuática del Noroeste de Estados Unidos
una pieza de carne aquello ha sido cortado de un animal carcass
un plazo anteriormente utilizado para referir al sencillo pasado tenso
las cotas de las barras representan observó frecuencias
uno de las celdas de la retina que es sensible de encender
No hay ningún punto en ser crecido arriba si no puedes ser infantil a veces.
la función del carácter después de que quien el juego está nombrado
Después de que que te puede ser vuestro malo viejo self otra vez.
Bebiendo no es un deporte de espectador.
las afecciones debajo que te puede utilizar material aquello es copyrighted por alguien más sin pagar derechos
una red de ordenador que consta de un en todo el mundo red de redes de ordenador que uso el TCP/protocolos de red de la IP para facilitar transmisión de dato y cambio
Tenemos que morir porque tenemos sabidos les.
común en los Estados Unidos orientales
el hospital tiene un excelente nursing personal
Nunca confiar en cualquiera quién dice que el dinero es ningún objeto.
todos los mamíferos excepto monotremas y marsupiales son placental mamíferos
un empleado de ferrocarril responsable para los frenos de un tren
agua con una manguera
una colección de las herramientas y otras prendas utilizaron por un artesano para hacer joyas o ropa o zapatos
una perspectiva negativa encima vida
ser traído a o como si al punto de muerte por una emoción intensa como vergüenza, distracción, o vergüenza
cualquiera de varios vinos del Rhone valle de Río en Francia
Esto es el ley de moción de historieta animada que también aplica al mundo físico en grande.
una persona quién ha anormalmente presión de sangre alta
bajo el umbral de percepción consciente
una región distinta o subdivisión de una área territorial o política o comunitario o grupo de personas
el negocio de proporcionar servicios a turistas
expresa uno es opinión abiertamente y sin miedo o hesitation
los seda o bufanda de encaje de una mujer
un convoca aquello manda el aspecto de una fiesta en un procediendo
Cuándo la copa es llena, llevarlo nivel.
rico y superior en calidad
tubo de contador en qué luz centellea cuándo expuesto a ionizar radiación
la ley de entregar un golpe con el pie
la lengua del apache
la pizza tiene demasiada grasa
narrando a o característica del país imaginario de Laputa o sus personas
una afección atmosférica ártica con nubes encima la nieve produce una blancura uniforme y los objetos son difíciles de ver
del norte templado bog arbusto con hojas correosas perennifolias y flores cilíndricas blancas pequeñas
la creencia religiosa que entre criatura y creador ninguna semejanza puede ser encontrada tan sumo pero que el dissimilarity es siempre más sumo
va y dejar detrás, tampoco intencionadamente o por negligencia o forgetfulness
cortado a con un instrumento agudo
una forma impura de carbonato de potasio
golosina grande fácilmente-peló fruta de Florida con corteza naranja profunda
hubo estúpidamente compró una una entrada de manera
amable y considerate consideración para otros
es suavely encantador y todas las señoras lequieren
un grupo islámico radical de terroristas en la parte iraquí de Kurdistán quién oppose una nación secular independiente como defendido por los Estados Unidos
un déficit acumulable del oxígeno que resulta de ejercicio intenso
toma arriba y práctica como uno es propio
empezó estudiar culebras seriamente
expresando existencia o un estado más que una acción
cercano por causarlo para mover arriba, como con un mango
la crítica literaria basada en análisis cercano del texto
diosa de los bajos fondos
una persona quién está considerado como excéntrico o loco
el ejército enveloping maniobra
alguien o algo quién carece de apoyo o cuidado o supervisión
utilizado en lacas y explosivos
Me gustaría enseñar el mundial de morder un renacuajo de cera.
un instrumento óptico para examinar el interior del esófago
la descalificación de un juez o jurado por razón de prejuicio o conflicto de interés
un recubrimiento delgado del metal depositado en una superficie
Inglés nobleman quién depuso Edward II y estuvo ejecutado por Edward III
este satyric el hombre viejo persigue chicas jóvenes
un pequeño roofed el edificio que proporciona sombra y resto
Creo que nunca veré Una cosa como precioso como árbol.
narrando a Paul el Apóstol o sus doctrinas
la regla dorada de enseñar es para ser claro
un especialista en la estructura y función y desórdenes del corazón
arbustos americanos Del sur pequeños o árboles
su mujer le tocó falsa
un aislado espesando de tejido, especialmente una protuberancia rígida en el labio de una orquídea
Tiene su lado oscuro, y tiene su lado ligero.
La Manera es shaped por uso, Pero entonces la forma está perdida.
la afección o calidad de ser una virgen
la adoración de mujeres
los padres y los profesores igualmente reclamaron reformas
su compañero querido de muchos años
Los biólogos difieren sólo con respetar a teorías aproximadamente cómo el proceso opera.
no ocupado u ocupó
un atropelladamente amable de existencia con nunca una pausa
Ella clutched su monedero
"Fue cierto," la mujer inquired, "que la medicación el doctor había prescrito era para el resto de su vida?"
da como garantía
Tiende para tener teléfono condenado y extremadamente caro-relaciones de llamada con personas nombraron Serge o Ilyana.
Tornillo el tapón de bote encima
El secretario nuevo tuvo que soportar muchísimo unprofessional comentarios
edificio de gobierno en qué diplomats vivo u obra
deshacer el rayo de
ser engañado, engañado, o entrapped por
No cogí vuestro nombre
trazo o caricia suavemente
